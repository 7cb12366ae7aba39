using System.Text.Json;
using System.Text.Json.Serialization;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Aggregation;

/// <summary>
/// What a call's spend is summed under: its client and billed model (as <c>/metrics</c> labels them), the end user it
/// names (OpenAI's <c>user</c>) and its tags (sorted, comma-separated). Budgets match scopes against it, and the spend
/// report groups by its parts. Stored as text (a dictionary key in the aggregates); keys stored before users and tags
/// were kept read as <c>client|model</c> with neither.
/// </summary>
[JsonConverter(typeof(SpendKeyJsonConverter))]
internal readonly record struct SpendKey(string Client, string Model, string User = "", string Tags = "")
{
    private const char Separator = '|';

    public static SpendKey Of(CallRecord r) =>
        new(AggregateState.Label(r.Client), AggregateState.Label(r.BilledModel), r.EndUser, SortedTags(r.Tags));

    /// <summary>Each tag of the key (none when untagged).</summary>
    public string[] TagList => Tags.Length == 0 ? [] : Tags.Split(',');

    public bool HasTag(string tag) => Tags.Length > 0 && Array.IndexOf(TagList, tag) >= 0;

    /// <summary>Tags in ordinal order, so one set of tags is one key whatever order the header named them in.</summary>
    internal static string SortedTags(string tags)
    {
        if (tags.IndexOf(',', StringComparison.Ordinal) < 0)
        {
            return tags;
        }

        var list = tags.Split(',');
        Array.Sort(list, StringComparer.Ordinal);
        return string.Join(',', list);
    }

    /// <summary>The stored text: <c>client|model|tags|user</c>, or <c>client|model</c> for a key with neither. Client and
    /// model are labels and tags use a fixed character set, none with a '|'; the user comes last, so it may hold one.</summary>
    public override string ToString() => User.Length == 0 && Tags.Length == 0
        ? string.Concat(Client, "|", Model)
        : string.Join(Separator, Client, Model, Tags, User);

    public static SpendKey Parse(string text)
    {
        var p = text.Split(Separator, 4);
        return p.Length switch
        {
            2 => new SpendKey(p[0], p[1]),
            4 => new SpendKey(p[0], p[1], p[3], p[2]),
            _ => throw new FormatException($"Not a spend key: '{Text.Truncate(text)}'."),
        };
    }
}

/// <summary>Writes a <see cref="SpendKey"/> as its text, also as a dictionary key.</summary>
internal sealed class SpendKeyJsonConverter : JsonConverter<SpendKey>
{
    public override SpendKey Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => SpendKey.Parse(reader.GetString()!);

    public override void Write(Utf8JsonWriter writer, SpendKey value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());

    public override SpendKey ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        SpendKey.Parse(reader.GetString()!);

    public override void WriteAsPropertyName(Utf8JsonWriter writer, SpendKey value, JsonSerializerOptions options) =>
        writer.WritePropertyName(value.ToString());
}
