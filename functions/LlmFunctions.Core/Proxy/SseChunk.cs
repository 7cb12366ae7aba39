using System.Buffers;

namespace LlmFunctions.Core.Proxy;

/// <summary>One SSE event's data, in a buffer rented from the pool; <see cref="Return"/> gives it back.</summary>
internal readonly struct SseChunk
{
    private readonly byte[] _buffer;

    private SseChunk(byte[] buffer, int length)
    {
        _buffer = buffer;
        Length = length;
    }

    public int Length { get; }

    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, Length);

    public Span<byte> Writable => _buffer.AsSpan(0, Length);

    public static SseChunk Rent(ReadOnlySpan<byte> data)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(data.Length, 1));
        data.CopyTo(buffer);
        return new SseChunk(buffer, data.Length);
    }

    public void Return()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }
}
