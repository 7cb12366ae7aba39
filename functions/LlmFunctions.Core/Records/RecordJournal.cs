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
///  segment   &lt;ticks&gt;-&lt;guid&gt;.journal in the spool folder, held open (and locked) by the host writing it;
///            one record per line (JSON, with the PartitionKey its table write uses)
///  stored    the table loop reports each record written under that key, or failed (storage down, or too late for
///            the key: the fold's watermark may have passed it); a failure seals the segment
///  finished  sealed (10,000 records, a failure, or the host stopping) with every record reported: deleted when all
///            were stored; otherwise converted, whole, into one spool batch &lt;ticks&gt;-&lt;guid&gt;-&lt;count&gt;.spool,
///            which the replay loop writes (each record looked up under its journal key first, then re-keyed)
///  start     segments no live host holds are converted the same way (a crash: some records stored, some not)
/// </code>
/// A record is in one durable place at a time: the conversion holds the new spool file locked until the segment is
/// deleted, so the replay loop cannot write the batch while the segment still exists; a segment found next to its
/// spool file (a crash in between) is deleted. The only key a record had before the replay is its journal key, so the
/// replay's lookups find every copy and nothing is written twice. A line cut short by a crash was never flushed, so
/// its call never completed: it is skipped.
/// </summary>
internal sealed partial class RecordJournal
{
    private const int RecordsPerSegment = 10_000;

    private readonly string _directory;
    private readonly RecordSpool _spool;
    private readonly ILogger<RecordJournal> _logger;
    private readonly ArrayBufferWriter<byte> _buffer = new(16 * 1024);
    private readonly Lock _gate = new();
    private readonly List<Segment> _finished = [];
    private Segment? _current;

    public RecordJournal(RecordSpool spool, IOptions<StorageOptions> options, ILogger<RecordJournal> logger)
    {
        _directory = spool.Directory;
        _spool = spool;
        Enabled = options.Value.LocalJournal;
        _logger = logger;
    }

    public bool Enabled { get; }

    /// <summary>Segment files present (this host's and any a crashed host left).</summary>
    public IEnumerable<string> Files() => Directory.Exists(_directory) ? Directory.EnumerateFiles(_directory, "*.journal") : [];

    /// <summary>
    /// Appends records (each with the PartitionKey it will be written under) and flushes them to disk. One caller at a
    /// time (the writer's journal loop). Returns the segment to report their table writes to. When the append fails,
    /// the segment is cut back to what it held before and sealed, and the exception is thrown: these records are not
    /// in the journal.
    /// </summary>
    public Segment Append(IReadOnlyList<SpooledRecord> records)
    {
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

        // Under the lock: a segment is never sealed or finished halfway through an append.
        lock (_gate)
        {
            var segment = _current ??= Open();
            var before = segment.Stream.Length;
            try
            {
                segment.Stream.Position = before;
                segment.Stream.Write(_buffer.WrittenSpan);
                segment.Stream.Flush(flushToDisk: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                try
                {
                    segment.Stream.SetLength(before);
                    segment.Stream.Flush(flushToDisk: true);
                }
                catch (Exception cut) when (cut is IOException or UnauthorizedAccessException)
                {
                    LogCutFailed(_logger, cut.GetType().Name);
                }

                SealLocked(segment);
                throw;
            }

            segment.Outstanding += records.Count;
            segment.Appended += records.Count;
            if (segment.Appended >= RecordsPerSegment)
            {
                SealLocked(segment);
            }

            return segment;
        }
    }

    /// <summary>Reports records of a segment written to the table under their journal key.</summary>
    public void Stored(Segment segment, int count) => Report(segment, count, failed: false);

    /// <summary>Reports records of a segment not written (storage down, or too late for their key): the replay writes them.</summary>
    public void Failed(Segment segment, int count) => Report(segment, count, failed: true);

    /// <summary>Seals the current segment: the host is stopping and the table loop has reported every record.</summary>
    public void Close()
    {
        lock (_gate)
        {
            if (_current is { } segment)
            {
                SealLocked(segment);
            }
        }
    }

    /// <summary>Converts the finished segments that held a failed record into spool batches (the replay loop's work).</summary>
    public async Task ConvertFinishedAsync(CancellationToken cancellationToken)
    {
        Segment[] finished;
        lock (_gate)
        {
            finished = [.. _finished];
            _finished.Clear();
        }

        foreach (var segment in finished)
        {
            try
            {
                await ConvertAsync(segment.Path, segment.Stream, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or OperationCanceledException)
            {
                // Left in place, still locked by this host; the next start converts it.
                LogConvertFailed(_logger, ex.GetType().Name);
            }
            finally
            {
                await segment.Stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// At start: converts the segments no live host holds (a crashed host's) into spool batches for the replay loop.
    /// A segment that cannot be read now is left for the next start. Returns how many records it found.
    /// </summary>
    public async Task<int> RecoverAsync(CancellationToken cancellationToken)
    {
        var recovered = 0;
        foreach (var file in Files().Order(StringComparer.Ordinal).ToList())
        {
            try
            {
                await using var stream = RecordSpool.TryLock(file);
                if (stream is not null)
                {
                    recovered += await ConvertAsync(file, stream, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
            {
                LogConvertFailed(_logger, ex.GetType().Name);
            }
        }

        return recovered;
    }

    private void Report(Segment segment, int count, bool failed)
    {
        lock (_gate)
        {
            segment.Outstanding -= count;
            if (failed)
            {
                segment.Failed += count;
                SealLocked(segment);
            }
            else if (segment.Sealed && segment.Outstanding == 0)
            {
                FinishLocked(segment);
            }
        }
    }

    private void SealLocked(Segment segment)
    {
        if (ReferenceEquals(_current, segment))
        {
            _current = null;
        }

        segment.Sealed = true;
        if (segment.Outstanding == 0)
        {
            FinishLocked(segment);
        }
    }

    private void FinishLocked(Segment segment)
    {
        if (segment.Finished)
        {
            return;
        }

        segment.Finished = true;
        if (segment.Failed > 0)
        {
            _finished.Add(segment);
            return;
        }

        try
        {
            File.Delete(segment.Path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Harmless: the next start converts it, and the replay finds every record already stored.
            LogDeleteFailed(_logger, ex.GetType().Name);
        }
        finally
        {
            segment.Stream.Dispose();
        }
    }

    /// <summary>
    /// Turns one segment (held locked through <paramref name="stream"/>) into one spool batch, then deletes it; the
    /// spool file stays locked until the segment is gone. Returns the records it held.
    /// </summary>
    private async Task<int> ConvertAsync(string path, FileStream stream, CancellationToken cancellationToken)
    {
        var name = Path.GetFileNameWithoutExtension(path);
        if (_spool.HasBatch(name))
        {
            // Converted already; the host stopped before it deleted the segment.
            File.Delete(path);
            return 0;
        }

        var records = new List<SpooledRecord>();
        var torn = 0;
        stream.Position = 0;
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

        if (records.Count == 0)
        {
            File.Delete(path);
            return 0;
        }

        await _spool.WriteBatchAsync(name, records, whileLocked: () => File.Delete(path), cancellationToken).ConfigureAwait(false);

        LogConverted(_logger, records.Count, torn);
        return records.Count;
    }

    private Segment Open()
    {
        Directory.CreateDirectory(_directory);
        var path = Path.Combine(_directory, RecordSpool.NewFileName() + ".journal");

        // FileShare.None: an exclusive lock, so another host's recovery leaves a live segment alone. No buffering:
        // every append goes to the file and is flushed with it.
        return new Segment(path, new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, bufferSize: 0));
    }

    /// <summary>One segment file and its count of records not yet reported.</summary>
    internal sealed class Segment(string path, FileStream stream)
    {
        public string Path { get; } = path;

        public FileStream Stream { get; } = stream;

        public int Appended { get; set; }

        public int Outstanding { get; set; }

        public int Failed { get; set; }

        public bool Sealed { get; set; }

        public bool Finished { get; set; }
    }

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "Turned a journal segment into a spool batch of {Count} records "
        + "({Torn} unfinished lines skipped); the replay loop writes those not yet stored.")]
    private static partial void LogConverted(ILogger logger, int count, int torn);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning,
        Message = "Could not delete a finished journal segment ({Error}); the next start converts it harmlessly.")]
    private static partial void LogDeleteFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Error,
        Message = "Could not turn a journal segment into a spool batch ({Error}); the next start tries again.")]
    private static partial void LogConvertFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Critical,
        Message = "A failed journal append could not be cut back ({Error}); its records may be replayed from the journal as well as written.")]
    private static partial void LogCutFailed(ILogger logger, string error);
}
