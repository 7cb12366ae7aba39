using System.Text;
using System.Text.Json;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// What one JSON response body or stream event says about metering: usage, model, id, and whether it is the
/// usage-only chunk a stream sends last when <c>stream_options.include_usage</c> is on. Reads chat completions,
/// completions, embeddings and the Responses API (where usage sits under <c>response</c>), with one forward-only
/// <see cref="Utf8JsonReader"/> pass and no allocation beyond the model string.
/// </summary>
internal struct ResponseFacts
{
    public Usage? Usage;
    public string? Model;

    /// <summary>True when the body has <c>"choices": []</c>.</summary>
    public bool ChoicesEmpty;

    private bool _skipIdentity;

    /// <summary>
    /// Reads <paramref name="json"/>; when <paramref name="text"/> is given, appends generated text (message
    /// content, stream deltas, completion text) to it for estimating tokens when no usage arrives.
    /// <paramref name="readIdentity"/> false leaves <see cref="Model"/> null: a stream relay that already has the
    /// model does not ask for it, so its chunks allocate no strings.
    /// Returns false when the body is not a JSON object.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> json, out ResponseFacts facts, StringBuilder? text = null, bool readIdentity = true)
    {
        facts = default;
        facts._skipIdentity = !readIdentity;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            ReadObject(ref reader, ref facts, text, Scope.Root);
            return true;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return false;
        }
    }

    private enum Scope { Root, Response, Choice, Message, Other }

    private static void ReadObject(ref Utf8JsonReader reader, ref ResponseFacts facts, StringBuilder? text, Scope scope)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isUsage = reader.ValueTextEquals("usage"u8);
            var isModel = !isUsage && !facts._skipIdentity && reader.ValueTextEquals("model"u8);
            var isChoices = reader.ValueTextEquals("choices"u8);
            var isResponse = reader.ValueTextEquals("response"u8);
            var isText = text is not null && (reader.ValueTextEquals("content"u8) || reader.ValueTextEquals("text"u8)
                || reader.ValueTextEquals("delta"u8) || reader.ValueTextEquals("reasoning_content"u8) || reader.ValueTextEquals("arguments"u8));
            var isMessage = reader.ValueTextEquals("message"u8) || reader.ValueTextEquals("delta"u8) || reader.ValueTextEquals("function"u8);
            var isToolCalls = reader.ValueTextEquals("tool_calls"u8);
            reader.Read();

            var top = scope is Scope.Root or Scope.Response;
            if (isUsage && top && reader.TokenType == JsonTokenType.StartObject)
            {
                facts.Usage = ReadUsage(ref reader);
            }
            else if (isModel && top && reader.TokenType == JsonTokenType.String)
            {
                facts.Model ??= reader.GetString();
            }
            else if (isResponse && scope == Scope.Root && reader.TokenType == JsonTokenType.StartObject)
            {
                ReadObject(ref reader, ref facts, text, Scope.Response);
            }
            else if (isChoices && top && reader.TokenType == JsonTokenType.StartArray)
            {
                var any = false;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    any = true;
                    ReadValue(ref reader, ref facts, text, Scope.Choice);
                }

                facts.ChoicesEmpty = !any;
            }
            else if (isText && reader.TokenType == JsonTokenType.String && scope != Scope.Root)
            {
                AppendString(ref reader, text!);
            }
            else if (isText && reader.TokenType == JsonTokenType.String && scope == Scope.Root)
            {
                // Responses API stream events: {"type":"response.output_text.delta","delta":"..."}.
                AppendString(ref reader, text!);
            }
            else if (text is not null && (isMessage || isToolCalls || scope is Scope.Message or Scope.Choice or Scope.Response))
            {
                ReadValue(ref reader, ref facts, text, Scope.Message);
            }
            else
            {
                reader.Skip();
            }
        }
    }

    private static void ReadValue(ref Utf8JsonReader reader, ref ResponseFacts facts, StringBuilder? text, Scope scope)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                ReadObject(ref reader, ref facts, text, scope);
                break;
            case JsonTokenType.StartArray:
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    ReadValue(ref reader, ref facts, text, scope);
                }

                break;
            default:
                break;
        }
    }

    private static void AppendString(ref Utf8JsonReader reader, StringBuilder text)
    {
        if (reader.ValueIsEscaped || reader.HasValueSequence)
        {
            text.Append(reader.GetString());
            return;
        }

        // Decode straight into the builder: no intermediate string per chunk.
        var span = reader.ValueSpan;
        var chars = Encoding.UTF8.GetCharCount(span);
        if (chars <= 512)
        {
            Span<char> buffer = stackalloc char[chars];
            Encoding.UTF8.GetChars(span, buffer);
            text.Append(buffer);
        }
        else
        {
            text.Append(Encoding.UTF8.GetString(span));
        }
    }

    private static Usage ReadUsage(ref Utf8JsonReader reader)
    {
        long input = 0, cached = 0, output = 0, reasoning = 0, written = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("prompt_tokens"u8) || reader.ValueTextEquals("input_tokens"u8))
            {
                reader.Read();
                input = ReadLong(ref reader);
            }
            else if (reader.ValueTextEquals("completion_tokens"u8) || reader.ValueTextEquals("output_tokens"u8))
            {
                reader.Read();
                output = ReadLong(ref reader);
            }
            else if (reader.ValueTextEquals("prompt_tokens_details"u8) || reader.ValueTextEquals("input_tokens_details"u8))
            {
                reader.Read();
                (cached, written) = ReadPromptDetails(ref reader, cached, written);
            }
            else if (reader.ValueTextEquals("cache_creation_input_tokens"u8))
            {
                // Anthropic's name, as gateways relaying Claude pass it on.
                reader.Read();
                written = ReadLong(ref reader);
            }
            else if (reader.ValueTextEquals("completion_tokens_details"u8) || reader.ValueTextEquals("output_tokens_details"u8))
            {
                reader.Read();
                reasoning = ReadDetail(ref reader, "reasoning_tokens"u8, reasoning);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return new Usage(input, cached, output, reasoning, written);
    }

    /// <summary>Cache reads (<c>cached_tokens</c>) and cache writes (<c>cache_write_tokens</c>, <c>cache_creation_tokens</c>).</summary>
    private static (long Cached, long Written) ReadPromptDetails(ref Utf8JsonReader reader, long cached, long written)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return (cached, written);
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isCached = reader.ValueTextEquals("cached_tokens"u8);
            var isWritten = reader.ValueTextEquals("cache_write_tokens"u8) || reader.ValueTextEquals("cache_creation_tokens"u8);
            reader.Read();
            if (isCached)
            {
                cached = ReadLong(ref reader);
            }
            else if (isWritten)
            {
                written = ReadLong(ref reader);
            }
            else
            {
                reader.Skip();
            }
        }

        return (cached, written);
    }

    private static long ReadDetail(ref Utf8JsonReader reader, ReadOnlySpan<byte> name, long current)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return current;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var match = reader.ValueTextEquals(name);
            reader.Read();
            if (match)
            {
                current = ReadLong(ref reader);
            }
            else
            {
                reader.Skip();
            }
        }

        return current;
    }

    private static long ReadLong(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var v) && v >= 0 ? v : 0;
}
