using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Azure.Data.Tables;

namespace LlmFunctions.Core.Aggregation;

/// <summary>
/// A value stored in one table entity as gzip'd JSON split over binary properties <c>Chunk0…</c> (a property holds at
/// most 64 KiB, an entity 1 MiB).
/// </summary>
internal static class ChunkedJson
{
    private const int ChunkBytes = 60 * 1024;
    private const int MaxChunks = 15;

    public static TableEntity ToEntity<T>(string partitionKey, string rowKey, T value, JsonTypeInfo<T> type)
    {
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            JsonSerializer.Serialize(gzip, value, type);
        }

        var bytes = compressed.GetBuffer().AsSpan(0, (int)compressed.Length);
        if (bytes.Length > ChunkBytes * MaxChunks)
        {
            throw new InvalidOperationException($"The aggregates grew to {bytes.Length} bytes; lower Metrics__MaxModels or the number of clients.");
        }

        var entity = new TableEntity(partitionKey, rowKey);
        for (var i = 0; i * ChunkBytes < bytes.Length; i++)
        {
            entity["Chunk" + i] = bytes.Slice(i * ChunkBytes, Math.Min(ChunkBytes, bytes.Length - i * ChunkBytes)).ToArray();
        }

        return entity;
    }

    public static T? FromEntity<T>(TableEntity entity, JsonTypeInfo<T> type)
    {
        using var compressed = new MemoryStream();
        for (var i = 0; i < MaxChunks && entity.GetBinary("Chunk" + i) is { } chunk; i++)
        {
            compressed.Write(chunk);
        }

        compressed.Position = 0;
        using var gzip = new GZipStream(compressed, CompressionMode.Decompress);
        return JsonSerializer.Deserialize(gzip, type);
    }
}
