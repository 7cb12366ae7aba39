using System.Buffers;
using System.IO.Pipelines;
using System.Text;

namespace LlmFunctions.Core.Proxy;

/// <summary>Writes SSE events to the client's pipe without building strings.</summary>
internal static class SseWriter
{
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    public static bool IsDone(ReadOnlySpan<byte> data) => data.Trim((byte)' ').SequenceEqual("[DONE]"u8);

    public static void WriteDone(PipeWriter writer) => writer.Write(Done);

    /// <summary>Writes one event; multi-line data becomes several <c>data:</c> lines, as the SSE format requires.</summary>
    public static void Write(PipeWriter writer, string eventType, string? eventId, ReadOnlySpan<byte> data)
    {
        if (!string.Equals(eventType, "message", StringComparison.Ordinal))
        {
            writer.Write("event: "u8);
            WriteAscii(writer, eventType);
            writer.Write("\n"u8);
        }

        if (!string.IsNullOrEmpty(eventId))
        {
            writer.Write("id: "u8);
            WriteAscii(writer, eventId);
            writer.Write("\n"u8);
        }

        while (true)
        {
            var newline = data.IndexOf((byte)'\n');
            writer.Write("data: "u8);
            if (newline < 0)
            {
                writer.Write(data);
                writer.Write("\n\n"u8);
                return;
            }

            writer.Write(data[..newline]);
            writer.Write("\n"u8);
            data = data[(newline + 1)..];
        }
    }

    private static void WriteAscii(PipeWriter writer, string value)
    {
        var span = writer.GetSpan(Encoding.UTF8.GetMaxByteCount(value.Length));
        var n = Encoding.UTF8.GetBytes(value, span);
        writer.Advance(n);
    }

    /// <summary>
    /// Removes <c>"usage":null</c>, which every chunk carries once <c>include_usage</c> is on, so a client that did
    /// not ask for usage sees exactly the chunks it would have seen. Returns the new length.
    /// </summary>
    public static int StripNullUsage(Span<byte> data)
    {
        ReadOnlySpan<byte> token = "\"usage\":null"u8;
        var at = data.IndexOf(token);
        if (at < 0)
        {
            return data.Length;
        }

        var start = at;
        var end = at + token.Length;
        // Take the comma before it (",\"usage\":null") or, when it is the first property, the one after it.
        var before = start - 1;
        while (before >= 0 && data[before] == (byte)' ')
        {
            before--;
        }

        if (before >= 0 && data[before] == (byte)',')
        {
            start = before;
        }
        else
        {
            var after = end;
            while (after < data.Length && data[after] == (byte)' ')
            {
                after++;
            }

            if (after < data.Length && data[after] == (byte)',')
            {
                end = after + 1;
            }
        }

        data[end..].CopyTo(data[start..]);
        return data.Length - (end - start);
    }
}
