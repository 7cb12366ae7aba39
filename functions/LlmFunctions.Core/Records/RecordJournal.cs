using System.Buffers;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Records;

/// <summary>
/// The local journal (<c>Storage__LocalJournal</c>), for long-lived hosts whose disk outlives the process. Each group of
/// records is appended to the current segment file and fsync'd before their calls complete, so a record is durable
/// after one local flush instead of one storage round trip; the table write follows in the background.
/// <code>
///  segment  &lt;ticks&gt;-&lt;guid&gt;.journal in the spool folder, held open exclusively by the host writing it
///  line     one record per line (JSON, with the PartitionKey its table write uses)
///  delete   once the segment is sealed (10,000 records) or the host stops, and every record of it is in the
///           table or in the spool
///  start    segments no live host holds are turned into spool batches; the replay loop writes them, looking each
///           record up under its key first, so a record that reached the table before the crash is not written twice
/// </code>
/// A line cut short by a crash was never flushed, so its call never completed: it is skipped.
/// </summary>
internal sealed partial class RecordJournal : IDisposable
{
    private const int RecordsPerSegment = 10_000;

    private readonly string _directory;
    private readonly ILogger<RecordJournal> _logger;
    private readonly ArrayBufferWriter<byte> _buffer = new(16 * 1024);
    private readonly Lock _gate = new();
    private Segment? _current;

    public RecordJournal(RecordSpool spool, IOptions<StorageOptions> options, ILogger<RecordJournal> logger)
    {
        _directory = spool.Directory;
        Enabled = options.Value.LocalJournal;
        _logger = logger;
    }

    public bool Enabled { get; }

    /// <summary>Segment files present (this host's and any a crashed host left).</summary>
    public IEnumerable<string> Files() => Directory.Exists(_directory) ? Directory.EnumerateFiles(_directory, "*.journal") : [];

    /// <summary>
    /// Appends records (each with the PartitionKey it will be written under) and flushes them to disk. One caller at a
    /// time (the writer's journal loop). Returns the segment to report their table writes to.
    /// </summary>
    public Segment Append(IReadOnlyList<SpooledRecord> records)
    {
        var segment = _current ??= Open();
        _buffer.ResetWrittenCount();
        using (var json = new Utf8JsonWriter(_buffer))
        {
            foreach (var record in records)
            {
                JsonSerializer.Serialize(json, record, SpoolJsonContext.Default.SpooledRecord);
                json.Flush();
                json.Reset();
                _buffer.Write("\n"u8);
            }
        }

        lock (_gate)
        {
            segment.Outstanding += records.Count;
        }

        segment.Stream.Write(_buffer.WrittenSpan);
        segment.Stream.Flush(flushToDisk: true);
        segment.Appended += records.Count;
        if (segment.Appended >= RecordsPerSegment)
        {
            _current = null;
            Seal(segment);
        }

        return segment;
    }

    /// <summary>Reports records of a segment as stored (in the table or the spool); a sealed segment with none left goes.</summary>
    public void Stored(Segment segment, int count)
    {
        lock (_gate)
        {
            segment.Outstanding -= count;
            if (segment.Sealed && segment.Outstanding == 0)
            {
                Delete(segment);
            }
        }
    }

    /// <summary>Seals the current segment (the host is stopping and every record has been stored).</summary>
    public void Dispose()
    {
        if (_current is { } segment)
        {
            _current = null;
            Seal(segment);
        }
    }

    /// <summary>
    /// Turns the segments no live host holds (a crashed host's) into spool batches for the replay loop. Returns how
    /// many records it found.
    /// </summary>
    public async Task<int> RecoverAsync(RecordSpool spool, CancellationToken cancellationToken)
    {
        var recovered = 0;
        foreach (var file in Files().Order(StringComparer.Ordinal).ToList())
        {
            await using var stream = RecordSpool.TryLock(file);
            if (stream is null)
            {
                continue;
            }

            var records = new List<SpooledRecord>();
            var torn = 0;
            using (var reader = new StreamReader(stream, leaveOpen: true))
            {
                while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
                {
                    try
                    {
                        if (line.Length > 0 && JsonSerializer.Deserialize(line, SpoolJsonContext.Default.SpooledRecord) is { } record)
                        {
                            records.Add(record);
                        }
                    }
                    catch (JsonException)
                    {
                        torn++;
                    }
                }
            }

            if (records.Count > 0)
            {
                await spool.AppendAsync(records, cancellationToken).ConfigureAwait(false);
            }

            File.Delete(file);
            recovered += records.Count;
            LogRecovered(_logger, records.Count, torn);
        }

        return recovered;
    }

    private Segment Open()
    {
        Directory.CreateDirectory(_directory);
        var path = Path.Combine(_directory, $"{DateTime.UtcNow.Ticks:D19}-{Guid.NewGuid():N}.journal");

        // FileShare.None: an exclusive lock, so another host's recovery leaves a live segment alone. No buffering:
        // every append goes to the file and is flushed with it.
        return new Segment(path, new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0));
    }

    private void Seal(Segment segment)
    {
        lock (_gate)
        {
            segment.Sealed = true;
            if (segment.Outstanding == 0)
            {
                Delete(segment);
            }
        }
    }

    private void Delete(Segment segment)
    {
        try
        {
            segment.Stream.Dispose();
            File.Delete(segment.Path);
        }
        catch (IOException ex)
        {
            // Harmless: a later start turns it into spool batches, whose replay finds every record already stored.
            LogDeleteFailed(_logger, ex.GetType().Name);
        }
    }

    /// <summary>One segment file and its count of records not yet stored.</summary>
    internal sealed class Segment(string path, FileStream stream)
    {
        public string Path { get; } = path;

        public FileStream Stream { get; } = stream;

        public int Appended { get; set; }

        public int Outstanding { get; set; }

        public bool Sealed { get; set; }
    }

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "Recovered {Count} records from a journal segment left by a stopped host ({Torn} unfinished lines skipped); the replay loop writes those not yet stored.")]
    private static partial void LogRecovered(ILogger logger, int count, int torn);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "Could not delete a finished journal segment ({Error}); a later start replays it harmlessly.")]
    private static partial void LogDeleteFailed(ILogger logger, string error);
}
