using System.Text;
using System.Text.Json;
using LlmFunctions.Core.Http;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// What the proxy needs from a JSON request body: model, streaming, usage option, output cap; and the body to send
/// upstream (<see cref="Rewrite"/>, in RequestFacts.Rewrite.cs).
/// </summary>
internal sealed partial class RequestFacts
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
        "previous_response_id", "conversation", "thinking",
    ];

    /// <summary>Why the body was refused, for the 400 message.</summary>
    public string Problem { get; private set; } = "The request body is not valid JSON.";

    private static Dictionary<string, string>? ReadMetadata(ref Utf8JsonReader reader, out bool nonString)
    {
        nonString = false;
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
                nonString |= reader.TokenType is not JsonTokenType.Null;
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
                if (!facts.TryReadMember(ref reader, ref seen))
                {
                    return false;
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

    /// <summary>
    /// Reads the member whose name the reader is on, leaving the reader on the last token of its value; false, with the
    /// <see cref="Problem"/>, when the body is refused for it. <paramref name="seen"/> holds the members acted on so far.
    /// </summary>
    private bool TryReadMember(ref Utf8JsonReader reader, ref int seen)
    {
        if (!TryAcceptName(ref reader, ref seen))
        {
            return false;
        }

        if (reader.ValueTextEquals("model"u8))
        {
            reader.Read();
            Model = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                reader.Skip();
            }
        }
        else if (reader.ValueTextEquals("stream"u8))
        {
            return TryReadStream(ref reader);
        }
        else if (reader.ValueTextEquals("stream_options"u8))
        {
            reader.Read();
            ReadStreamOptions(ref reader);
        }
        else if (reader.ValueTextEquals("user"u8))
        {
            reader.Read();
            User = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            reader.Skip();
        }
        else if (reader.ValueTextEquals("metadata"u8))
        {
            reader.Read();
            MetadataMalformed = reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.Null);
            Metadata = ReadMetadata(ref reader, out var nonString);
            MetadataMalformed |= nonString;
        }
        else if (reader.ValueTextEquals("thinking"u8))
        {
            return TryReadThinking(ref reader);
        }
        else if (reader.ValueTextEquals("previous_response_id"u8) || reader.ValueTextEquals("conversation"u8))
        {
            reader.Read();
            HasStoredInput |= reader.TokenType is not JsonTokenType.Null;
            reader.Skip();
        }
        else if (IsCount(ref reader))
        {
            return TryReadCount(ref reader);
        }
        else
        {
            reader.Read();
            reader.Skip();
        }

        return true;
    }

    /// <summary>
    /// False, with the <see cref="Problem"/>, for a name the body must not have: a member the proxy acts on given twice,
    /// which could mean one thing to us and another upstream (bill one model, run another), so it is refused rather than
    /// guessed at; or one of the members we read spelled in another case, which the upstream may read and we would not.
    /// </summary>
    private bool TryAcceptName(ref Utf8JsonReader reader, ref int seen)
    {
        var bit = ActedOnBit(ref reader);
        if ((seen & bit) != 0)
        {
            Problem = $"The request body names '{reader.GetString()}' more than once.";
            return false;
        }

        seen |= bit;
        if (bit == 0 && CaseVariant(ref reader) is { } variant)
        {
            Problem = $"The request body names '{Text.Truncate(reader.GetString()!)}'; member names are case-sensitive: use '{variant}'.";
            return false;
        }

        return true;
    }

    /// <summary>The bit of a member that may be given once only (<c>model</c>, <c>stream</c>, <c>stream_options</c>, the output caps), else 0.</summary>
    private static int ActedOnBit(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("model"u8) ? 1 : reader.ValueTextEquals("stream"u8) ? 2
        : reader.ValueTextEquals("stream_options"u8) ? 4 : reader.ValueTextEquals("max_tokens"u8) ? 8
        : reader.ValueTextEquals("max_completion_tokens"u8) ? 16 : reader.ValueTextEquals("max_output_tokens"u8) ? 32 : 0;

    /// <summary>Reads <c>stream</c>: true, false or null; anything else refuses the body.</summary>
    private bool TryReadStream(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null))
        {
            Problem = "'stream' must be true or false.";
            return false;
        }

        Stream = reader.TokenType == JsonTokenType.True;
        return true;
    }

    /// <summary>Reads <c>stream_options</c>, the reader on its value: that it is there, and its <c>include_usage</c>.</summary>
    private void ReadStreamOptions(ref Utf8JsonReader reader)
    {
        HasStreamOptions = true;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isIncludeUsage = reader.ValueTextEquals("include_usage"u8);
            reader.Read();
            if (isIncludeUsage && reader.TokenType is JsonTokenType.True or JsonTokenType.False)
            {
                IncludeUsage = reader.TokenType == JsonTokenType.True;
            }
            else
            {
                reader.Skip();
            }
        }
    }

    /// <summary>A member that bounds the worst case: the choices (<c>n</c>, <c>best_of</c>) or an output cap.</summary>
    private static bool IsCount(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("n"u8) || reader.ValueTextEquals("best_of"u8)
        || reader.ValueTextEquals("max_tokens"u8) || reader.ValueTextEquals("max_completion_tokens"u8)
        || reader.ValueTextEquals("max_output_tokens"u8);

    /// <summary>Reads a count <see cref="IsCount"/> names: an integer or null; anything else refuses the body.</summary>
    private bool TryReadCount(ref Utf8JsonReader reader)
    {
        // A count the worst case is priced on: "8", 8.5 or 1e9 could be read one way upstream and another here.
        var name = reader.GetString()!;
        reader.Read();
        if (reader.TokenType == JsonTokenType.Null)
        {
            return true;
        }

        if (reader.TokenType != JsonTokenType.Number || !IsInteger(reader.ValueSpan) || !reader.TryGetInt64(out var count))
        {
            Problem = $"'{name}' must be an integer.";
            return false;
        }

        if (name == "max_tokens")
        {
            MaxTokens = count;
        }

        if (name is "n" or "best_of")
        {
            Choices = Math.Max(Choices, Math.Min(count, MaxChoices));
        }
        else if (count > 0)
        {
            // max_tokens and max_completion_tokens together: the larger bounds what the call may cost.
            MaxOutputTokens = Math.Max(MaxOutputTokens ?? 0, count);
        }

        return true;
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
