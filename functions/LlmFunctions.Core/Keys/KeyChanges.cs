using System.Text.Json;
using System.Text.Json.Nodes;
using LlmFunctions.Core.Http;

namespace LlmFunctions.Core.Keys;

/// <summary>
/// What a change did to a key, for its audit row: each field shown by the admin API that differs, as
/// <c>{"field": {"from": old, "to": new}}</c>. Built from the admin API's own view of the key, so a secret or a hash
/// can never be in it.
/// </summary>
internal static class KeyChanges
{
    private static readonly HashSet<string> Ignored = new(StringComparer.Ordinal) { "id", "object", "status", "created_at", "updated_at", "source" };

    public static string Between(VirtualKey? before, VirtualKey after, DateTimeOffset now)
    {
        var old = before is null ? new JsonObject() : View(before, now);
        var changes = new JsonObject();
        foreach (var (name, value) in View(after, now))
        {
            old.TryGetPropertyValue(name, out var was);
            if (Ignored.Contains(name) || JsonNode.DeepEquals(was, value) || (before is null && IsEmpty(value)))
            {
                continue;
            }

            changes[name] = new JsonObject { ["from"] = was?.DeepClone(), ["to"] = value?.DeepClone() };
        }

        var text = changes.ToJsonString(Relaxed);
        return text.Length <= MaxLength
            ? text
            : new JsonObject { ["fields"] = new JsonArray([.. changes.Select(c => (JsonNode?)JsonValue.Create(c.Key))]), ["values"] = "too long to keep" }
                .ToJsonString(Relaxed);
    }

    /// <summary>The longest audit text kept whole: well inside Table Storage's 64 KiB a string (32 K characters).</summary>
    internal const int MaxLength = 16_000;

    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static bool IsEmpty(JsonNode? value) => value is null || value is JsonArray { Count: 0 } || value is JsonObject { Count: 0 };

    private static JsonObject View(VirtualKey key, DateTimeOffset now)
    {
        using var buffer = new PooledBufferWriter(1024);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = Relaxed.Encoder }))
        {
            KeyJson.Write(json, key, now);
        }

        return JsonNode.Parse(buffer.WrittenSpan)!.AsObject();
    }
}
