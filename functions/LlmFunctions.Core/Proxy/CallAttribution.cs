using System.Text.Json;
using LlmFunctions.Core.Http;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Who and what a call is for, beyond the client key: OpenAI's <c>user</c> (the record's <c>EndUser</c>), its
/// <c>metadata</c> (<c>Metadata</c>, compact JSON) and the <c>x-llm-tags</c> header (<c>Tags</c>, comma-separated).
/// Bounded, so a record stays small and a label stays a label: a call over a bound gets a 400 naming it.
/// </summary>
internal sealed record CallAttribution(string EndUser, string Tags, string Metadata)
{
    public const string TagsHeader = "x-llm-tags";
    public const int MaxTags = 10;
    public const int MaxTagLength = 64;
    public const int MaxUserLength = 256;

    // OpenAI's own limits for metadata.
    public const int MaxMetadataKeys = 16;
    public const int MaxMetadataKeyLength = 64;
    public const int MaxMetadataValueLength = 512;

    /// <summary>The call's attribution, or the failure that refuses it.</summary>
    public static (CallAttribution? Attribution, ApiFailure? Failure) Read(IHeaderDictionary headers, RequestFacts? facts,
        ApiDialect dialect = ApiDialect.OpenAI)
    {
        var tags = new List<string>();
        foreach (var value in headers[TagsHeader])
        {
            foreach (var tag in (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (tag.Length > MaxTagLength || !tag.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
                {
                    return Refuse($"Tag '{Text.Truncate(tag)}' in {TagsHeader} is not allowed: use at most {MaxTagLength} letters, digits, "
                        + "'-', '_', '.' or ':'.");
                }

                if (!tags.Contains(tag, StringComparer.Ordinal))
                {
                    tags.Add(tag);
                }
            }
        }

        if (tags.Count > MaxTags)
        {
            return Refuse($"{TagsHeader} names {tags.Count} tags; the limit is {MaxTags}.");
        }

        // Anthropic's end user is metadata.user_id, which is all its metadata holds: kept as the end user only.
        var anthropic = dialect == ApiDialect.Anthropic;
        var user = (anthropic ? facts?.MetadataUserId : facts?.User) ?? "";
        if (user.Length > MaxUserLength)
        {
            return Refuse($"'{(anthropic ? "metadata.user_id" : "user")}' is {user.Length} characters; the limit is {MaxUserLength}.");
        }

        var metadata = "";
        if (!anthropic && facts?.Metadata is { Count: > 0 } entries)
        {
            if (entries.Count > MaxMetadataKeys)
            {
                return Refuse($"'metadata' has {entries.Count} keys; the limit is {MaxMetadataKeys}.");
            }

            if (entries.FirstOrDefault(e => e.Key.Length > MaxMetadataKeyLength || e.Value.Length > MaxMetadataValueLength) is { Key: { } bad })
            {
                return Refuse($"'metadata' key '{Text.Truncate(bad)}': keys take at most {MaxMetadataKeyLength} characters and values "
                    + $"{MaxMetadataValueLength}.");
            }

            metadata = JsonSerializer.Serialize(entries, AttributionJsonContext.Default.DictionaryStringString);
        }

        return (new CallAttribution(user, string.Join(',', tags), metadata), null);
    }

    private static (CallAttribution?, ApiFailure?) Refuse(string message) => (null, ApiFailure.Rejected(400, "invalid_attribution", message));
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class AttributionJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
