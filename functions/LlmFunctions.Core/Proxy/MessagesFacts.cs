using System.Text;
using System.Text.Json;

namespace LlmFunctions.Core.Proxy;

/// <summary>The kind of an Anthropic Messages body or stream event (its <c>type</c>), as far as metering cares.</summary>
internal enum MessagesEvent
{
    Other,

    /// <summary>A whole (non-streaming) message.</summary>
    Message,
    MessageStart,
    MessageDelta,
    MessageStop,

    /// <summary>An error: a non-200 body, or <c>event: error</c> inside a 200 stream.</summary>
    Error,
}

/// <summary>
/// What one Anthropic Messages body or stream event says about metering, in one forward-only <see cref="Utf8JsonReader"/>
/// pass: its type, the usage (a body's and <c>message_delta</c>'s at the top, <c>message_start</c>'s under
/// <c>message</c>), the model, an error's type, and (when asked) the generated text, for an estimate when usage is
/// missing: text, thinking and tool input (<c>partial_json</c> in a stream).
/// </summary>
internal struct MessagesFacts
{
    public MessagesEvent Type;
    public AnthropicUsage? Usage;
    public string? Model;

    /// <summary>An error's <c>error.type</c> (<c>overloaded_error</c>, <c>rate_limit_error</c>…).</summary>
    public string? ErrorType;

    /// <summary>Reads <paramref name="json"/>; false when it is not a JSON object.</summary>
    public static bool TryRead(ReadOnlySpan<byte> json, out MessagesFacts facts, StringBuilder? text = null, bool readIdentity = true)
    {
        facts = default;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            facts.ReadMessage(ref reader, json, text, readIdentity, root: true);
            return true;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>A body, an event or <c>message_start</c>'s <c>message</c>: the reader on its start, left on its end.</summary>
    private void ReadMessage(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, StringBuilder? text, bool readIdentity, bool root)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                if (root && reader.TokenType == JsonTokenType.String)
                {
                    Type = TypeOf(ref reader);
                }
            }
            else if (reader.ValueTextEquals("usage"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    Usage = ReadUsage(ref reader);
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("model"u8))
            {
                reader.Read();
                if (readIdentity && reader.TokenType == JsonTokenType.String)
                {
                    Model ??= reader.GetString();
                }
            }
            else if (root && reader.ValueTextEquals("message"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    ReadMessage(ref reader, json, text, readIdentity, root: false);
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (root && reader.ValueTextEquals("error"u8))
            {
                reader.Read();
                ErrorType = ReadErrorType(ref reader);
            }
            else if (text is not null && (reader.ValueTextEquals("content"u8) || reader.ValueTextEquals("delta"u8)
                || reader.ValueTextEquals("content_block"u8)))
            {
                reader.Read();
                AppendGenerated(ref reader, json, text);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    private static MessagesEvent TypeOf(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("message"u8) ? MessagesEvent.Message
        : reader.ValueTextEquals("message_start"u8) ? MessagesEvent.MessageStart
        : reader.ValueTextEquals("message_delta"u8) ? MessagesEvent.MessageDelta
        : reader.ValueTextEquals("message_stop"u8) ? MessagesEvent.MessageStop
        : reader.ValueTextEquals("error"u8) ? MessagesEvent.Error
        : MessagesEvent.Other;

    private static string? ReadErrorType(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return null;
        }

        string? type = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isType = reader.ValueTextEquals("type"u8);
            reader.Read();
            if (isType && reader.TokenType == JsonTokenType.String)
            {
                type = Http.Text.Truncate(reader.GetString()!);
            }
            else
            {
                reader.Skip();
            }
        }

        return type;
    }

    /// <summary>
    /// The generated text in content blocks and deltas: <c>text</c>, <c>thinking</c> and <c>partial_json</c> strings, and a
    /// tool call's <c>input</c> object as written; ids, names and signatures are not text the model was billed for.
    /// </summary>
    private static void AppendGenerated(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, StringBuilder text)
    {
        if (reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
        {
            reader.Skip();
            return;
        }

        var depth = reader.CurrentDepth;
        while (reader.Read() && reader.CurrentDepth > depth)
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            var isText = reader.ValueTextEquals("text"u8) || reader.ValueTextEquals("thinking"u8) || reader.ValueTextEquals("partial_json"u8);
            var isInput = reader.ValueTextEquals("input"u8);
            reader.Read();
            if (isText && reader.TokenType == JsonTokenType.String)
            {
                text.Append(reader.GetString());
            }
            else if (isInput && reader.TokenType == JsonTokenType.StartObject)
            {
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                text.Append(Encoding.UTF8.GetString(json[start..(int)reader.BytesConsumed])).Append(' ');
            }
            else if (reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
            {
                reader.Skip();
            }
        }
    }

    private static AnthropicUsage ReadUsage(ref Utf8JsonReader reader)
    {
        var usage = new AnthropicUsage();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("input_tokens"u8))
            {
                usage = usage with { InputTokens = ReadCount(ref reader) };
            }
            else if (reader.ValueTextEquals("output_tokens"u8))
            {
                usage = usage with { OutputTokens = ReadCount(ref reader) };
            }
            else if (reader.ValueTextEquals("cache_read_input_tokens"u8))
            {
                usage = usage with { CacheReadTokens = ReadCount(ref reader) };
            }
            else if (reader.ValueTextEquals("cache_creation_input_tokens"u8))
            {
                usage = usage with { CacheCreationTokens = ReadCount(ref reader) };
            }
            else if (reader.ValueTextEquals("cache_creation"u8) || reader.ValueTextEquals("output_tokens_details"u8))
            {
                reader.Read();
                usage = ReadDetails(ref reader, usage);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return usage;
    }

    /// <summary><c>cache_creation</c>'s 5m/1h split or <c>output_tokens_details.thinking_tokens</c>.</summary>
    private static AnthropicUsage ReadDetails(ref Utf8JsonReader reader, AnthropicUsage usage)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return usage;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("ephemeral_5m_input_tokens"u8))
            {
                usage = usage with { Write5mTokens = ReadCount(ref reader) };
            }
            else if (reader.ValueTextEquals("ephemeral_1h_input_tokens"u8))
            {
                usage = usage with { Write1hTokens = ReadCount(ref reader) };
            }
            else if (reader.ValueTextEquals("thinking_tokens"u8))
            {
                usage = usage with { ThinkingTokens = ReadCount(ref reader) };
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return usage;
    }

    /// <summary>A count, the reader on its name: null when null or not a non-negative integer (absent, as Anthropic means it).</summary>
    private static long? ReadCount(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var v) && v >= 0)
        {
            return v;
        }

        reader.Skip();
        return null;
    }
}
