using System.Text;
using System.Text.Json;
using LlmFunctions.Core.Http;

namespace LlmFunctions.Core.Proxy;

/// <summary>What the proxy needs from a JSON request body: model, streaming, usage option, output cap.</summary>
internal sealed class RequestFacts
{
    public string? Model { get; private set; }

    public bool Stream { get; private set; }

    /// <summary>The client's <c>stream_options.include_usage</c>, null when absent.</summary>
    public bool? IncludeUsage { get; private set; }

    public bool HasStreamOptions { get; private set; }

    /// <summary><c>max_tokens</c>, <c>max_completion_tokens</c> or <c>max_output_tokens</c>.</summary>
    public long? MaxOutputTokens { get; private set; }

    /// <summary>
    /// Completions the call asks for, each up to <see cref="MaxOutputTokens"/>: the larger of <c>n</c> and <c>best_of</c>,
    /// at least 1 and at most <see cref="MaxChoices"/> (OpenAI's own limit; the upstream refuses more).
    /// </summary>
    public long Choices { get; private set; } = 1;

    public const long MaxChoices = 128;

    /// <summary>
    /// The body names input stored upstream (<c>previous_response_id</c> or <c>conversation</c>, Responses API): its
    /// tokens are billed but not in the body, so the body bounds no worst case.
    /// </summary>
    public bool HasStoredInput { get; private set; }

    /// <summary>OpenAI's <c>user</c>: the end user the client names, when a string.</summary>
    public string? User { get; private set; }

    /// <summary>OpenAI's <c>metadata</c>: string values by key, when an object (other values are left out).</summary>
    public Dictionary<string, string>? Metadata { get; private set; }

    /// <summary>
    /// The one depth bound of every reader of a request body (the parse, the rewrite, the prompt's text): a body one of
    /// them accepts, none of them refuses halfway.
    /// </summary>
    internal static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 128 };

    /// <summary>The members the proxy reads: one spelled in another case could be read by the upstream and not by us.</summary>
    private static readonly string[] ReadMembers =
    [
        "model", "stream", "stream_options", "max_tokens", "max_completion_tokens", "max_output_tokens", "n", "best_of", "user", "metadata",
        "previous_response_id", "conversation",
    ];

    /// <summary>Why the body was refused, for the 400 message.</summary>
    public string Problem { get; private set; } = "The request body is not valid JSON.";

    private static Dictionary<string, string>? ReadMetadata(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return null;
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var key = reader.GetString()!;
            reader.Read();
            if (reader.TokenType == JsonTokenType.String)
            {
                metadata[key] = reader.GetString()!;
            }
            else
            {
                reader.Skip();
            }
        }

        return metadata;
    }

    /// <summary>Parses a request body; false when it is not a JSON object.</summary>
    public static bool TryParse(ReadOnlySpan<byte> json, out RequestFacts facts)
    {
        facts = new RequestFacts();
        try
        {
            var reader = new Utf8JsonReader(json, ReaderOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            var seen = 0;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                // A member the proxy acts on, given twice, could mean one thing to us and another upstream
                // (bill one model, run another): refuse it rather than guess which one counts.
                var bit = reader.ValueTextEquals("model"u8) ? 1 : reader.ValueTextEquals("stream"u8) ? 2
                    : reader.ValueTextEquals("stream_options"u8) ? 4 : reader.ValueTextEquals("max_tokens"u8) ? 8
                    : reader.ValueTextEquals("max_completion_tokens"u8) ? 16 : reader.ValueTextEquals("max_output_tokens"u8) ? 32 : 0;
                if ((seen & bit) != 0)
                {
                    facts.Problem = $"The request body names '{reader.GetString()}' more than once.";
                    return false;
                }

                seen |= bit;
                if (bit == 0 && CaseVariant(ref reader) is { } variant)
                {
                    facts.Problem = $"The request body names '{Text.Truncate(reader.GetString()!)}'; member names are case-sensitive: use '{variant}'.";
                    return false;
                }

                if (reader.ValueTextEquals("model"u8))
                {
                    reader.Read();
                    facts.Model = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                    {
                        reader.Skip();
                    }
                }
                else if (reader.ValueTextEquals("stream"u8))
                {
                    reader.Read();
                    if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null))
                    {
                        facts.Problem = "'stream' must be true or false.";
                        return false;
                    }

                    facts.Stream = reader.TokenType == JsonTokenType.True;
                }
                else if (reader.ValueTextEquals("stream_options"u8))
                {
                    reader.Read();
                    facts.HasStreamOptions = true;
                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                        {
                            var isIncludeUsage = reader.ValueTextEquals("include_usage"u8);
                            reader.Read();
                            if (isIncludeUsage && reader.TokenType is JsonTokenType.True or JsonTokenType.False)
                            {
                                facts.IncludeUsage = reader.TokenType == JsonTokenType.True;
                            }
                            else
                            {
                                reader.Skip();
                            }
                        }
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
                else if (reader.ValueTextEquals("user"u8))
                {
                    reader.Read();
                    facts.User = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    reader.Skip();
                }
                else if (reader.ValueTextEquals("metadata"u8))
                {
                    reader.Read();
                    facts.Metadata = ReadMetadata(ref reader);
                }
                else if (reader.ValueTextEquals("previous_response_id"u8) || reader.ValueTextEquals("conversation"u8))
                {
                    reader.Read();
                    facts.HasStoredInput |= reader.TokenType is not JsonTokenType.Null;
                    reader.Skip();
                }
                else if (reader.ValueTextEquals("n"u8) || reader.ValueTextEquals("best_of"u8)
                    || reader.ValueTextEquals("max_tokens"u8) || reader.ValueTextEquals("max_completion_tokens"u8)
                    || reader.ValueTextEquals("max_output_tokens"u8))
                {
                    // A count the worst case is priced on: "8", 8.5 or 1e9 could be read one way upstream and another here.
                    var name = reader.GetString()!;
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        continue;
                    }

                    if (reader.TokenType != JsonTokenType.Number || !IsInteger(reader.ValueSpan) || !reader.TryGetInt64(out var count))
                    {
                        facts.Problem = $"'{name}' must be an integer.";
                        return false;
                    }

                    if (name is "n" or "best_of")
                    {
                        facts.Choices = Math.Max(facts.Choices, Math.Min(count, MaxChoices));
                    }
                    else if (count > 0)
                    {
                        // max_tokens and max_completion_tokens together: the larger bounds what the call may cost.
                        facts.MaxOutputTokens = Math.Max(facts.MaxOutputTokens ?? 0, count);
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            // A valid object ends here; trailing garbage is not JSON.
            while (reader.Read())
            {
            }

            return true;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string that is not valid UTF-16 once unescaped (a lone surrogate).
            return false;
        }
    }

    /// <summary>The member a property name spells in another case (<c>Model</c> for <c>model</c>), or null.</summary>
    private static string? CaseVariant(ref Utf8JsonReader reader)
    {
        // Unescaped into a stack buffer (no string per property on every call); 32 characters outlast every member we read.
        if (reader.ValueSpan.Length > 6 * 32)
        {
            return null;
        }

        Span<char> name = stackalloc char[6 * 32];
        name = name[..reader.CopyString(name)];
        foreach (var member in ReadMembers)
        {
            if (name.Equals(member, StringComparison.OrdinalIgnoreCase) && !name.SequenceEqual(member))
            {
                return member;
            }
        }

        return null;
    }

    /// <summary>A JSON number without a fraction or exponent.</summary>
    private static bool IsInteger(ReadOnlySpan<byte> number) => number.IndexOfAny((byte)'.', (byte)'e', (byte)'E') < 0;

    /// <summary>
    /// Returns the body to send upstream: with <c>stream_options.include_usage = true</c> added when
    /// <paramref name="injectUsage"/>, and the model replaced when <paramref name="model"/> is given.
    /// The common case (no <c>stream_options</c> at all, no model change) is a byte splice before the final brace.
    /// </summary>
    public static byte[] Rewrite(ReadOnlySpan<byte> json, bool injectUsage, bool hasStreamOptions, string? model)
    {
        if (model is null && injectUsage && !hasStreamOptions)
        {
            var end = json.LastIndexOf((byte)'}');
            var insert = ",\"stream_options\":{\"include_usage\":true}"u8;
            var result = new byte[json.Length + insert.Length];
            json[..end].CopyTo(result);
            insert.CopyTo(result.AsSpan(end));
            json[end..].CopyTo(result.AsSpan(end + insert.Length));
            return result;
        }

        // Otherwise copy the object member by member (duplicates of other members pass through untouched,
        // which a DOM such as JsonNode would refuse), replacing what we change.
        var output = new System.Buffers.ArrayBufferWriter<byte>(json.Length + 64);
        using (var writer = new Utf8JsonWriter(output))
        {
            var reader = new Utf8JsonReader(json, ReaderOptions);
            reader.Read();
            writer.WriteStartObject();
            var wroteStreamOptions = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (model is not null && reader.ValueTextEquals("model"u8))
                {
                    reader.Read();
                    reader.Skip();
                    writer.WriteString("model"u8, model);
                }
                else if (injectUsage && reader.ValueTextEquals("stream_options"u8))
                {
                    reader.Read();
                    writer.WriteStartObject("stream_options"u8);
                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                        {
                            var isIncludeUsage = reader.ValueTextEquals("include_usage"u8);
                            var name = reader.GetString()!;
                            reader.Read();
                            if (!isIncludeUsage)
                            {
                                writer.WritePropertyName(name);
                                CopyValue(ref reader, json, writer);
                            }
                            else
                            {
                                reader.Skip();
                            }
                        }
                    }
                    else
                    {
                        reader.Skip();
                    }

                    writer.WriteBoolean("include_usage"u8, true);
                    writer.WriteEndObject();
                    wroteStreamOptions = true;
                }
                else
                {
                    writer.WritePropertyName(reader.GetString()!);
                    reader.Read();
                    CopyValue(ref reader, json, writer);
                }
            }

            if (injectUsage && !wroteStreamOptions)
            {
                writer.WriteStartObject("stream_options"u8);
                writer.WriteBoolean("include_usage"u8, true);
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        }

        return output.WrittenSpan.ToArray();
    }

    /// <summary>Copies the value the reader is on, byte for byte.</summary>
    private static void CopyValue(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, Utf8JsonWriter writer)
    {
        var start = (int)reader.TokenStartIndex;
        reader.Skip();
        writer.WriteRawValue(json[start..(int)reader.BytesConsumed], skipInputValidation: true);
    }

    /// <summary>Collects the prompt text of a request (messages, input, prompt, instructions) for estimating tokens.</summary>
    public static string PromptText(ReadOnlySpan<byte> json)
    {
        var text = new StringBuilder();
        try
        {
            var reader = new Utf8JsonReader(json, ReaderOptions);
            var depthOfPrompt = -1;
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1)
                {
                    var isPrompt = reader.ValueTextEquals("messages"u8) || reader.ValueTextEquals("input"u8)
                        || reader.ValueTextEquals("prompt"u8) || reader.ValueTextEquals("instructions"u8)
                        || reader.ValueTextEquals("system"u8) || reader.ValueTextEquals("tools"u8);
                    depthOfPrompt = isPrompt ? 1 : -1;
                }
                else if (depthOfPrompt > 0 && reader.CurrentDepth >= 1 && reader.TokenType == JsonTokenType.String)
                {
                    text.Append(reader.GetString()).Append(' ');
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Best effort: whatever was read so far.
        }

        return text.ToString();
    }
}
