using System.Buffers;
using System.Collections.Concurrent;
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
///  stored    the group-commit writer reports each record written under that key, or failed (storage down, or too late for
///            the key: the fold's watermark may have passed it); a failure seals the segment
///  finished  sealed (10,000 records, a failure, or the host stopping) with every record reported: deleted when all
///            were stored; otherwise converted, whole, into one spool batch &lt;ticks&gt;-&lt;guid&gt;-&lt;count&gt;.spool,
///            which the spool replayer writes (each record looked up under its journal key first, then re-keyed)
///  start     segments no live host holds are converted the same way (a crash: some records stored, some not)
/// </code>
/// A record is in one durable place at a time: the conversion holds the new spool file locked until the segment is
/// deleted, so the replayer cannot write the batch while the segment still exists; a segment found next to its
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
    private readonly ConcurrentQueue<Segment> _finished = new();

    // Owned by the appender (the journal pump): no other thread reads or changes it.
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
    /// time (the journal pump). Returns the segment to report their table writes to. When the append fails, the
    /// segment is cut back to what it held before and sealed, and the exception is thrown: these records are not in
    /// the journal.
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

        // Reserved first: while these records are outstanding no report can finish (and close) the segment, so the
        // file is written without a lock. A segment sealed by a failed report takes no more records.
        var count = records.Count;
        var segment = _current;
        if (segment is null || !segment.Update(s => s.Sealed ? s : s with { Appended = s.Appended + count, Outstanding = s.Outstanding + count }).Changed)
        {
            segment = _current = Open();
            segment.Update(s => s with { Appended = count, Outstanding = count });
        }

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

            _current = null;
            Apply(segment, s => s with { Appended = s.Appended - count, Outstanding = s.Outstanding - count, Sealed = true });
            throw;
        }

        if (segment.State.Appended >= RecordsPerSegment)
        {
            _current = null;
            Apply(segment, s => s with { Sealed = true });
        }

        return segment;
    }

    /// <summary>
    /// Reports records of a segment: written to the table under their journal key, or not (storage down, or too late
    /// for their key), which seals the segment and leaves them to the replay of its spool batch.
    /// </summary>
    public void Report(Segment segment, int count, bool stored) =>
        Apply(segment, s => s with { Outstanding = s.Outstanding - count, Failed = s.Failed + (stored ? 0 : count), Sealed = s.Sealed || !stored });

    /// <summary>Seals the current segment: the host is stopping and nothing more is appended. Called by the appender.</summary>
    public void Close()
    {
        if (_current is { } segment)
        {
            _current = null;
            Apply(segment, s => s with { Sealed = true });
        }
    }

    /// <summary>Converts the finished segments that held a failed record into spool batches (the replay loop's work).</summary>
    public async Task ConvertFinishedAsync(CancellationToken cancellationToken)
    {
        while (_finished.TryDequeue(out var segment))
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

    /// <summary>
    /// Changes a segment's state; the one change that finishes it (sealed, nothing outstanding) does the file work,
    /// outside any lock: a segment with a failed record waits for the replayer's conversion, any other is deleted.
    /// </summary>
    private void Apply(Segment segment, Func<SegmentState, SegmentState> change)
    {
        if (!segment.Update(change).Finished)
        {
            return;
        }

        if (segment.State.Failed > 0)
        {
            _finished.Enqueue(segment);
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

    /// <summary>One segment file and its state, which changes only as a whole (<see cref="Update"/>).</summary>
    internal sealed class Segment(string path, FileStream stream)
    {
        private SegmentState _state = SegmentState.Empty;

        public string Path { get; } = path;

        public FileStream Stream { get; } = stream;

        public SegmentState State => Volatile.Read(ref _state);

        /// <summary>
        /// Applies a change atomically (retried when another thread changed the state first). Changed: the state is
        /// not what it was; Finished: this change finished the segment, which happens once.
        /// </summary>
        public (bool Changed, bool Finished) Update(Func<SegmentState, SegmentState> change)
        {
            while (true)
            {
                var before = State;
                var after = change(before);
                if (after.Sealed && after.Outstanding == 0)
                {
                    after = after with { Finished = true };
                }

                if (ReferenceEquals(Interlocked.CompareExchange(ref _state, after, before), before))
                {
                    return (after != before, after.Finished && !before.Finished);
                }
            }
        }
    }

    /// <summary>
    /// A segment's records: appended, not yet reported, reported failed; sealed: takes no more; finished: sealed with
    /// every record reported.
    /// </summary>
    internal sealed record SegmentState(int Appended, int Outstanding, int Failed, bool Sealed, bool Finished)
    {
        public static readonly SegmentState Empty = new(0, 0, 0, false, false);
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
