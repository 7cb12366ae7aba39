using System.Text.Json;

namespace LlmFunctions.Core.Keys;

/// <summary>How the admin API shows a key: everything but its secret and hashes (the secret only once, by the caller).</summary>
internal static class KeyJson
{
    /// <summary>The id the admin API gives a client in app settings: stable, and telling nothing of its key.</summary>
    public static string SettingsId(string name) =>
        "cfg_" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("settings:" + name)))[..24];

    /// <summary>The name of the client in app settings whose admin API id is <paramref name="id"/>, or null.</summary>
    public static string? SettingsClientOf(IEnumerable<string> names, string id) => names.FirstOrDefault(n => SettingsId(n) == id);

    public static void Write(Utf8JsonWriter json, VirtualKey key, DateTimeOffset now, string? secret = null)
    {
        json.WriteStartObject();
        json.WriteString("id", key.Id);
        json.WriteString("object", "key");
        json.WriteString("name", key.Name);
        json.WriteString("source", "api");
        json.WriteString("status", key.StatusAt(now).ToString().ToLowerInvariant());
        if (secret is not null)
        {
            json.WriteString("key", secret); // shown this once
        }

        json.WriteStartArray("models");
        foreach (var model in key.Models)
        {
            json.WriteStringValue(model);
        }

        json.WriteEndArray();
        WriteBudget(json, key.Budget);
        WriteNumber(json, "rpm", key.Rpm);
        WriteNumber(json, "tpm", key.Tpm);
        WriteTime(json, "expires_at", key.ExpiresAt);
        json.WriteStartObject("metadata");
        foreach (var (name, value) in key.Metadata)
        {
            json.WriteString(name, value);
        }

        json.WriteEndObject();
        WriteTime(json, "created_at", key.CreatedAt);
        WriteTime(json, "updated_at", key.UpdatedAt);
        WriteTime(json, "rotated_at", key.RotatedAt);
        WriteTime(json, "previous_key_valid_until", key.PreviousValidAt(now) ? key.PreviousValidUntil : null);
        WriteTime(json, "revoked_at", key.RevokedAt);
        json.WriteEndObject();
    }

    /// <summary>A client in app settings, read-only here.</summary>
    public static void WriteSettingsClient(Utf8JsonWriter json, string name, ClientOptions client)
    {
        json.WriteStartObject();
        json.WriteString("id", SettingsId(name));
        json.WriteString("object", "key");
        json.WriteString("name", name);
        json.WriteString("source", "settings");
        json.WriteString("status", "active");
        json.WriteBoolean("read_only", true);
        WriteNumber(json, "rpm", client.RequestsPerMinute > 0 ? client.RequestsPerMinute : null);
        json.WriteEndObject();
    }

    public static void WriteEvent(Utf8JsonWriter json, KeyEvent e)
    {
        json.WriteStartObject();
        json.WriteString("object", "key.event");
        json.WriteNumber("seq", e.Seq);
        WriteTime(json, "at", e.At);
        json.WriteString("key_id", e.KeyId);
        json.WriteString("action", e.Action);
        json.WritePropertyName("changes");
        json.WriteRawValue(e.Changes);
        json.WriteString("caller", e.Caller);
        json.WriteEndObject();
    }

    /// <summary>A budget as the admin API takes and shows it.</summary>
    public static void WriteBudget(Utf8JsonWriter json, KeyBudget? budget)
    {
        if (budget is null)
        {
            json.WriteNull("budget");
            return;
        }

        json.WriteStartObject("budget");
        json.WriteNumber("limit_usd", budget.LimitUsd);
        json.WriteString("period", budget.Period);
        json.WriteString("action", budget.Action);
        json.WriteBoolean("reserve", budget.Reserve);
        json.WriteEndObject();
    }

    private static void WriteNumber(Utf8JsonWriter json, string name, long? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static void WriteTime(Utf8JsonWriter json, string name, DateTimeOffset? value)
    {
        if (value is { } v)
        {
            json.WriteString(name, v.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
