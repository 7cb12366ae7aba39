using System.Buffers;
using System.Text.Json;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// The last <see cref="Window"/> bytes of a JSON response body relayed as it arrives, too large to hold whole; and what
/// metering needs from it: <c>usage</c> sits at the end of every OpenAI body (chat, completions, embeddings, Responses),
/// the model at the start. A property name is found by its bytes: inside a JSON string a quote is escaped, so
/// <c>"usage":</c> can only be a member name, and the last one in the body is the top-level one.
/// </summary>
internal sealed class BodyTail : IDisposable
{
    /// <summary>Bytes kept: far more than a usage object with its details (under 1 KB).</summary>
    public const int Window = 64 * 1024;

    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(2 * Window);
    private int _length;

    /// <summary>Bytes seen in all.</summary>
    public long Total { get; private set; }

    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, _length);

    public void Append(ReadOnlySpan<byte> chunk)
    {
        Total += chunk.Length;
        if (chunk.Length >= Window)
        {
            chunk[^Window..].CopyTo(_buffer);
            _length = Window;
            return;
        }

        if (_length + chunk.Length > _buffer.Length)
        {
            // Keep the last Window bytes, then add the chunk after them.
            _buffer.AsSpan(_length - Window, Window).CopyTo(_buffer);
            _length = Window;
        }

        chunk.CopyTo(_buffer.AsSpan(_length));
        _length += chunk.Length;
    }

    /// <summary>The top-level usage in the tail (read as <paramref name="dialect"/> writes it), or null when the body ended without one.</summary>
    public Usage? ReadUsage(Http.ApiDialect dialect = Http.ApiDialect.OpenAI)
    {
        if (Capture(ValueAfter(Span, "\"usage\""u8, last: true), JsonTokenType.StartObject) is not { } usage)
        {
            return null;
        }

        ReadOnlySpan<byte> wrapped = [.. "{\"usage\":"u8, .. usage, .. "}"u8];
        return dialect == Http.ApiDialect.Anthropic
            ? MessagesFacts.TryRead(wrapped, out var message) ? message.Usage?.ToUsage() : null
            : ResponseFacts.TryRead(wrapped, out var facts) ? facts.Usage : null;
    }

    /// <summary>The model a body names first (the response's own, before any nested object), from its first bytes.</summary>
    public static string? ReadModel(ReadOnlySpan<byte> head)
    {
        var value = ValueAfter(head, "\"model\""u8, last: false);
        try
        {
            var reader = new Utf8JsonReader(value, isFinalBlock: false, state: default);
            return reader.Read() && reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The bytes from the value of the first or last member named <paramref name="quotedName"/>, or null.</summary>
    private static ReadOnlySpan<byte> ValueAfter(ReadOnlySpan<byte> json, ReadOnlySpan<byte> quotedName, bool last)
    {
        // Searches json[from..to) and narrows it past each name that is not followed by a colon (a string value).
        int from = 0, to = json.Length;
        while (to > from)
        {
            var window = json[from..to];
            var at = last ? window.LastIndexOf(quotedName) : window.IndexOf(quotedName);
            if (at < 0)
            {
                return default;
            }

            var rest = json[(from + at + quotedName.Length)..].TrimStart(" \t\r\n"u8);
            if (rest.Length > 0 && rest[0] == (byte)':')
            {
                return rest[1..].TrimStart(" \t\r\n"u8);
            }

            if (last)
            {
                to = from + at;
            }
            else
            {
                from += at + quotedName.Length;
            }
        }

        return default;
    }

    /// <summary>The whole JSON value at the start of <paramref name="json"/> when it is of <paramref name="kind"/> and complete.</summary>
    private static byte[]? Capture(ReadOnlySpan<byte> json, JsonTokenType kind)
    {
        try
        {
            var reader = new Utf8JsonReader(json, isFinalBlock: false, state: default);
            if (!reader.Read() || reader.TokenType != kind || !reader.TrySkip())
            {
                return null;
            }

            return json[..(int)reader.BytesConsumed].ToArray();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }
}
