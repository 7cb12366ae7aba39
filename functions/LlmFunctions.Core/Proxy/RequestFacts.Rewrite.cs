using System.Buffers;
using System.Text.Json;

namespace LlmFunctions.Core.Proxy;

// The body sent upstream, rewritten from the client's (RequestFacts.cs reads it).
internal sealed partial class RequestFacts
{
    /// <summary>
    /// Returns the body to send upstream: with <c>stream_options.include_usage = true</c> added when
    /// <paramref name="injectUsage"/>, and the model replaced when <paramref name="model"/> is given.
    /// The common case (no <c>stream_options</c> at all, no model change) is a byte splice before the final brace.
    /// </summary>
    public static byte[] Rewrite(ReadOnlySpan<byte> json, bool injectUsage, bool hasStreamOptions, string? model)
    {
        if (model is null && injectUsage && !hasStreamOptions)
        {
            return SpliceIncludeUsage(json);
        }

        // Otherwise copy the object member by member (duplicates of other members pass through untouched,
        // which a DOM such as JsonNode would refuse), replacing what we change.
        var output = new ArrayBufferWriter<byte>(json.Length + 64);
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
                    WriteStreamOptions(ref reader, json, writer);
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

    /// <summary>The body with <c>"stream_options":{"include_usage":true}</c> spliced in before its final brace.</summary>
    private static byte[] SpliceIncludeUsage(ReadOnlySpan<byte> json)
    {
        var end = json.LastIndexOf((byte)'}');
        var insert = ",\"stream_options\":{\"include_usage\":true}"u8;
        var result = new byte[json.Length + insert.Length];
        json[..end].CopyTo(result);
        insert.CopyTo(result.AsSpan(end));
        json[end..].CopyTo(result.AsSpan(end + insert.Length));
        return result;
    }

    /// <summary>
    /// Writes the client's <c>stream_options</c> (the reader on its value) with <c>include_usage</c> set to true and its
    /// other members as they were; a value that is not an object is replaced.
    /// </summary>
    private static void WriteStreamOptions(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, Utf8JsonWriter writer)
    {
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
    }

    /// <summary>Copies the value the reader is on, byte for byte.</summary>
    private static void CopyValue(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, Utf8JsonWriter writer)
    {
        var start = (int)reader.TokenStartIndex;
        reader.Skip();
        writer.WriteRawValue(json[start..(int)reader.BytesConsumed], skipInputValidation: true);
    }
}
