using System.Threading.Channels;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using LlmFunctions.Core.Metrics;

namespace LlmFunctions.Core.Records;

/// <summary>
/// Writes call records durably with group commit: one loop takes what is queued and commits it as one entity-group
/// transaction per partition, paced by <c>Storage__CommitIntervalMs</c>; when storage fails it spools to local disk and
/// a replay loop writes the spool back; with <c>Storage__LocalJournal</c> a journal loop comes first. The path, its
/// rules and the measured choices are in docs/architecture.md ("Writing records").
/// </summary>
internal sealed partial class RecordWriter : BackgroundService
{
    // Not the 100 a transaction may hold: the SDK's request for 100 records lands on the large object heap (measured
    // in docs/architecture.md, "Writing records").
    private const int MaxBatch = 40;

    private readonly Channel<Pending> _queue;
    private readonly Channel<Pending> _journaled;
    private readonly TableStore _store;
    private readonly RecordSpool _spool;
    private readonly RecordJournal _journal;
    private readonly TimeProvider _time;
    private readonly InFlightCalls _inFlight;
    private readonly TailSummaries _tail;
    private readonly TimeSpan _queuedCommitDelay;
    private readonly TimeSpan _commitInterval;
    private long _lastCommitTimestamp;
    private readonly ILogger<RecordWriter> _logger;
    private readonly int _shard = Random.Shared.Next(0, 100);
    private long _transactions;
    private long _written;
    private long _spooled;
    private long _storageDownUntilTicks;

    /// <summary>After a batch had to be spooled, how long later batches go straight to the spool.</summary>
    internal static readonly TimeSpan StorageDownFor = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long after being journaled a record may still start its table write under its journal key: the fold's lag
    /// less 7 s, so that even after two attempts of at most 3 s it lands before the fold's watermark passes its key
    /// (3 s with the smallest lag, 10 s; 53 s by default). Later, its segment goes to the replay, which re-keys it.
    /// </summary>
    private readonly TimeSpan _journaledWriteWindow;

    public RecordWriter(TableStore store, RecordSpool spool, RecordJournal journal, TimeProvider time, InFlightCalls inFlight, TailSummaries tail,
        IOptions<StorageOptions> options, IOptions<MetricsOptions> metrics, ILogger<RecordWriter> logger)
    {
        _journaledWriteWindow = TimeSpan.FromSeconds(Math.Max(1, metrics.Value.FoldLagSeconds - 7));
        // Bounded: when calls come faster than storage takes records, a caller waits for room (one group commit),
        // so the proxy slows to storage's pace instead of growing its memory and what a crash would lose.
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(options.Value.MaxQueuedRecords)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        // Journaled records on their way to the table: two batches at most, so a record reaches the table loop within
        // a commit or two of its key's minute (or is reported late), and a journal ahead of storage slows callers down
        // rather than holding records in memory.
        _journaled = Channel.CreateBounded<Pending>(new BoundedChannelOptions(2 * MaxBatch)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _store = store;
        _spool = spool;
        _journal = journal;
        _time = time;
        _inFlight = inFlight;
        _tail = tail;
        _queuedCommitDelay = TimeSpan.FromMilliseconds(options.Value.QueuedCommitDelayMs);
        _commitInterval = TimeSpan.FromMilliseconds(options.Value.CommitIntervalMs);
        _logger = logger;
    }

    /// <summary>Storage transactions issued (for the benchmark's transactions-per-call figure).</summary>
    public long Transactions => Interlocked.Read(ref _transactions);

    public long Written => Interlocked.Read(ref _written);

    public long Spooled => Interlocked.Read(ref _spooled);

    /// <summary>Records waiting for the writer loops (not counting the transaction under way).</summary>
    public int Queued => _queue.Reader.Count + _journaled.Reader.Count;

    /// <summary>Raised once for every record, when it is durable (used by budget enforcement for "seen since the fold").</summary>
    public event Action<CallRecord>? Durable;

    /// <summary>
    /// Queues a record. The task completes when the record is durable (in the table or in the spool), or — with
    /// <paramref name="untilDurable"/> false — as soon as it is queued, which is at once unless
    /// <c>Storage__MaxQueuedRecords</c> are already waiting.
    /// </summary>
    public Task WriteAsync(CallRecord record, bool untilDurable = true)
    {
        var pending = new Pending(record, untilDurable);
        if (_queue.Writer.TryWrite(pending))
        {
            return untilDurable ? pending.Completion.Task : Task.CompletedTask;
        }

        return WriteWhenRoomAsync(pending, untilDurable);
    }

    private async Task WriteWhenRoomAsync(Pending pending, bool untilDurable)
    {
        try
        {
            await _queue.Writer.WriteAsync(pending).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            // Only after shutdown drained the queue: write it straight to the spool rather than lose it.
            await _spool.AppendAsync([new SpooledRecord { Record = CallRecordData.From(pending.Record) }], CancellationToken.None).ConfigureAwait(false);
            return;
        }

        if (untilDurable)
        {
            await pending.Completion.Task.ConfigureAwait(false);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_journal.Enabled)
        {
            var replay = ReplayLoopAsync(stoppingToken);
            await TableLoopAsync(_queue.Reader).ConfigureAwait(false);
            await replay.ConfigureAwait(false);
            return;
        }

        // Before anything new is journaled: what a crashed host left becomes spool batches for the replay loop. Not
        // cancellable: a stop during start-up must still reach the loops below, which write what callers queued.
        await _journal.RecoverAsync(CancellationToken.None).ConfigureAwait(false);

        var replayJournaled = ReplayLoopAsync(stoppingToken);
        var table = TableLoopAsync(_journaled.Reader);
        await JournalLoopAsync().ConfigureAwait(false);
        await table.ConfigureAwait(false);
        _journal.Close();
        await _journal.ConvertFinishedAsync(CancellationToken.None).ConfigureAwait(false);
        await replayJournaled.ConfigureAwait(false);
    }

    /// <summary>Takes batches off a queue and writes them to the table (or the spool), until the queue is closed.</summary>
    private async Task TableLoopAsync(ChannelReader<Pending> reader)
    {
        var batch = new List<Pending>(MaxBatch);
        while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            var awaited = Drain(reader, batch);
            if (!awaited && batch.Count < MaxBatch && _queuedCommitDelay > TimeSpan.Zero)
            {
                awaited = await FillAsync(reader, batch, _queuedCommitDelay, untilAwaited: true).ConfigureAwait(false);
            }

            // Pacing: while other calls are in progress, at most one awaited commit per interval
            // (StorageOptions.CommitIntervalMs). A lone caller is never held: nothing would join its batch.
            var sinceLast = _time.GetElapsedTime(_lastCommitTimestamp);
            if (awaited && batch.Count < MaxBatch && sinceLast < _commitInterval && _inFlight.Count > batch.Count)
            {
                await FillAsync(reader, batch, _commitInterval - sinceLast, untilAwaited: false).ConfigureAwait(false);
            }

            _lastCommitTimestamp = _time.GetTimestamp();

            // Journaled records keep the PartitionKey the journal holds for them (a batch may straddle a minute); the
            // others (no journal, or its append failed) have none and are written under the current minute.
            var start = 0;
            for (var i = 1; i <= batch.Count; i++)
            {
                if (i == batch.Count || batch[i].PartitionKey != batch[start].PartitionKey)
                {
                    var run = start == 0 && i == batch.Count ? batch : batch.GetRange(start, i - start);
                    if (run[0].PartitionKey is { } journalKey)
                    {
                        await WriteJournaledAsync(run, journalKey).ConfigureAwait(false);
                    }
                    else
                    {
                        await CommitAsync(run).ConfigureAwait(false);
                    }

                    start = i;
                }
            }

            batch.Clear();
        }
    }

    /// <summary>
    /// With the local journal: appends each batch to it and fsyncs it, completes its callers, and hands it on to the
    /// table loop. When the journal cannot be written, the batch goes on unjournaled and its callers wait for the table.
    /// </summary>
    private async Task JournalLoopAsync()
    {
        try
        {
            var batch = new List<Pending>(MaxBatch);
            var reader = _queue.Reader;
            while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                Drain(reader, batch);
                var now = _time.GetUtcNow();
                var partitionKey = RecordKeys.PartitionKey(now, _shard);
                try
                {
                    var segment = _journal.Append(ToSpooled(batch, partitionKey));
                    foreach (var p in batch)
                    {
                        p.Segment = segment;
                        p.PartitionKey = partitionKey;
                        p.JournaledAt = now;
                        Durable?.Invoke(p.Record);
                        p.Completion.TrySetResult();
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Not in the journal (the append was cut back): these go on as plain records, their callers wait.
                    LogJournalFailed(_logger, ex.GetType().Name);
                }

                foreach (var p in batch)
                {
                    await _journaled.Writer.WriteAsync(p).ConfigureAwait(false);
                }

                batch.Clear();
            }
        }
        finally
        {
            _journaled.Writer.TryComplete();
        }
    }

    /// <summary>
    /// Writes journaled records under their journal key and reports them to the journal: stored, or failed when
    /// storage is down or they came too late for the key (the replay of their segment writes them then).
    /// </summary>
    private async Task WriteJournaledAsync(List<Pending> run, string partitionKey)
    {
        var now = _time.GetUtcNow();
        var stored = now - run[0].JournaledAt <= _journaledWriteWindow
            && now.UtcTicks >= Interlocked.Read(ref _storageDownUntilTicks)
            && await TryWriteAsync(run, partitionKey).ConfigureAwait(false);
        foreach (var p in run)
        {
            if (stored)
            {
                _journal.Stored(p.Segment!, 1);
            }
            else
            {
                _journal.Failed(p.Segment!, 1);
            }
        }
    }

    /// <summary>Moves queued records into the batch, up to its size; true when a caller waits on one of them.</summary>
    private static bool Drain(ChannelReader<Pending> reader, List<Pending> batch)
    {
        var awaited = false;
        while (batch.Count < MaxBatch && reader.TryRead(out var p))
        {
            batch.Add(p);
            awaited |= p.WaitsOnTable;
        }

        return awaited;
    }

    /// <summary>
    /// Lets a batch fill for up to <paramref name="delay"/>: it ends early when the batch is full, the queue is closed
    /// (shutdown), or — with <paramref name="untilAwaited"/> — a record with a waiting caller arrives. True when the
    /// batch got such a record.
    /// </summary>
    private async Task<bool> FillAsync(ChannelReader<Pending> reader, List<Pending> batch, TimeSpan delay, bool untilAwaited)
    {
        using var timeout = new CancellationTokenSource(delay, _time);
        var awaited = false;
        while (batch.Count < MaxBatch)
        {
            // SuppressThrowing: the delay running out is the normal way out of this loop, not an error.
            var more = reader.WaitToReadAsync(timeout.Token).AsTask();
            await ((Task)more).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (!more.IsCompletedSuccessfully || !more.Result)
            {
                break;
            }

            awaited |= Drain(reader, batch);
            if (awaited && untilAwaited)
            {
                break;
            }
        }

        return awaited;
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // The web server may still be finishing calls (hosted services can stop before it does):
        // wait for them, so every call that reached us is written before exit.
        await _inFlight.WaitForZeroAsync(cancellationToken).ConfigureAwait(false);
        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes a batch to the table under the current minute, or to the spool when storage fails.</summary>
    private async Task CommitAsync(List<Pending> batch)
    {
        var now = _time.GetUtcNow();
        if (now.UtcTicks < Interlocked.Read(ref _storageDownUntilTicks))
        {
            // Storage just failed us: write this batch to the spool now rather than make its callers wait out two
            // more timeouts; the replay loop brings it to the table.
            await SpoolAsync(batch, attemptedPartitionKey: null, "storage down").ConfigureAwait(false);
            return;
        }

        var partitionKey = RecordKeys.PartitionKey(now, _shard);
        if (await TryWriteAsync(batch, partitionKey).ConfigureAwait(false))
        {
            Settle(batch);
        }
        else
        {
            await SpoolAsync(batch, partitionKey, "two attempts failed").ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Two attempts to write a batch under one PartitionKey. After the second failure storage counts as down for
    /// <see cref="StorageDownFor"/>.
    /// </summary>
    private async Task<bool> TryWriteAsync(List<Pending> batch, string partitionKey)
    {
        var records = new List<CallRecord>(batch.Count);
        foreach (var p in batch)
        {
            records.Add(p.Record);
        }

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                Interlocked.Increment(ref _transactions);
                await _store.SubmitCallsAsync(partitionKey, records).ConfigureAwait(false);
                _tail.Committed(partitionKey, records);
                Interlocked.Add(ref _written, batch.Count);
                return true;
            }
            catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or TaskCanceledException or IOException or AggregateException)
            {
                if (attempt < 2)
                {
                    LogRetry(_logger, batch.Count, attempt, ex.GetType().Name);
                    await Task.Delay(TimeSpan.FromMilliseconds(100 * attempt), _time).ConfigureAwait(false);
                    continue;
                }

                LogWriteFailed(_logger, batch.Count, ex.GetType().Name);
                Interlocked.Exchange(ref _storageDownUntilTicks, (_time.GetUtcNow() + StorageDownFor).UtcTicks);
                return false;
            }
        }
    }

    private async Task SpoolAsync(List<Pending> batch, string? attemptedPartitionKey, string reason)
    {
        try
        {
            await _spool.AppendAsync(ToSpooled(batch, attemptedPartitionKey), CancellationToken.None).ConfigureAwait(false);
            Interlocked.Add(ref _spooled, batch.Count);
            LogSpooled(_logger, batch.Count, reason);
            Settle(batch);
        }
        catch (Exception ex)
        {
            LogLost(_logger, ex, batch.Count);
            foreach (var p in batch)
            {
                p.Completion.TrySetException(ex);
            }
        }
    }

    /// <summary>The batch as spool (or journal) entries, each with the key a write of it was or will be attempted under.</summary>
    private static List<SpooledRecord> ToSpooled(List<Pending> batch, string? attemptedPartitionKey)
    {
        var records = new List<SpooledRecord>(batch.Count);
        foreach (var p in batch)
        {
            records.Add(new SpooledRecord
            {
                Record = CallRecordData.From(p.Record),
                AttemptedPartitionKeys = attemptedPartitionKey is null ? [] : [attemptedPartitionKey],
            });
        }

        return records;
    }

    /// <summary>Completes the callers of records that became durable now, in the table or the spool.</summary>
    private void Settle(List<Pending> batch)
    {
        foreach (var p in batch)
        {
            Durable?.Invoke(p.Record);
            p.Completion.TrySetResult();
        }
    }

    /// <summary>Replays spooled batches every few seconds until the folder is empty; also on start (after a crash).</summary>
    private async Task ReplayLoopAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (_journal.Enabled)
                {
                    await _journal.ConvertFinishedAsync(stoppingToken).ConfigureAwait(false);
                }

                if (await ReplayOnceAsync(stoppingToken).ConfigureAwait(false) > 0)
                {
                    // Storage took a spooled batch: it is back, new batches go to the table again.
                    Interlocked.Exchange(ref _storageDownUntilTicks, 0);
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogReplayFailed(_logger, ex.GetType().Name);
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(2), _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>
    /// Writes every spooled batch it can lock. A record is first looked up under every key a write of it was
    /// attempted with (an attempt may have committed without us hearing back); only when absent everywhere is it
    /// written, under the current minute, after that key is added to the file — so a crash mid-replay cannot
    /// produce a duplicate either.
    /// </summary>
    internal async Task<int> ReplayOnceAsync(CancellationToken cancellationToken)
    {
        var replayed = 0;
        foreach (var file in _spool.Files())
        {
            await using var stream = RecordSpool.TryLock(file);
            if (stream is null)
            {
                continue;
            }

            var records = await RecordSpool.ReadAsync(stream, cancellationToken).ConfigureAwait(false);
            var missing = new List<SpooledRecord>(records.Count);
            foreach (var r in records)
            {
                if (await FindAsync(r, cancellationToken).ConfigureAwait(false) is { } storedUnder)
                {
                    // An attempt committed without us hearing back: nobody has published it to the tail yet.
                    _tail.Committed(storedUnder, [r.Record.ToRecord()]);
                }
                else
                {
                    missing.Add(r);
                }
            }

            if (missing.Count > 0)
            {
                var partitionKey = RecordKeys.PartitionKey(_time.GetUtcNow(), _shard);
                foreach (var r in missing)
                {
                    r.AttemptedPartitionKeys.Add(partitionKey);
                }

                await RecordSpool.RewriteAsync(stream, records, cancellationToken).ConfigureAwait(false);
                foreach (var chunk in missing.Chunk(MaxBatch))
                {
                    Interlocked.Increment(ref _transactions);
                    var replayedRecords = chunk.Select(r => r.Record.ToRecord()).ToList();
                    await _store.SubmitCallsAsync(partitionKey, replayedRecords, cancellationToken).ConfigureAwait(false);
                    _tail.Committed(partitionKey, replayedRecords);
                }
            }

            File.Delete(file);
            replayed += records.Count;
            LogReplayed(_logger, records.Count, missing.Count);
        }

        return replayed;
    }

    /// <summary>The PartitionKey a spooled record is already stored under, if an earlier attempt committed it.</summary>
    private async Task<string?> FindAsync(SpooledRecord r, CancellationToken cancellationToken)
    {
        foreach (var pk in r.AttemptedPartitionKeys)
        {
            if (await _store.CallExistsAsync(pk, r.Record.CallId, cancellationToken).ConfigureAwait(false))
            {
                return pk;
            }
        }

        return null;
    }

    private sealed class Pending(CallRecord record, bool awaited)
    {
        public CallRecord Record { get; } = record;

        /// <summary>A caller waits for this record to be durable.</summary>
        public bool Awaited { get; } = awaited;

        /// <summary>The journal segment holding it once journaled (its caller has completed); null otherwise.</summary>
        public RecordJournal.Segment? Segment { get; set; }

        /// <summary>The PartitionKey the journal holds for it; null: the minute it is written in.</summary>
        public string? PartitionKey { get; set; }

        /// <summary>When it was journaled (the time its PartitionKey comes from).</summary>
        public DateTimeOffset JournaledAt { get; set; }

        /// <summary>A caller waits for the table write itself, so its batch is committed without delay.</summary>
        public bool WaitsOnTable => Awaited && Segment is null;

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Writing {Count} records failed (attempt {Attempt}, {Error}); retrying.")]
    private static partial void LogRetry(ILogger logger, int count, int attempt, string error);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Storage unavailable ({Error}): spooled {Count} records to local disk.")]
    private static partial void LogSpooled(ILogger logger, int count, string error);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Critical, Message = "Could not spool {Count} records: they are lost.")]
    private static partial void LogLost(ILogger logger, Exception exception, int count);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Information,
        Message = "Replayed a spooled batch of {Count} records ({Written} written, the rest were already stored).")]
    private static partial void LogReplayed(ILogger logger, int count, int written);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning,
        Message = "Writing {Count} records failed twice ({Error}); storage counts as down for a few seconds.")]
    private static partial void LogWriteFailed(ILogger logger, int count, string error);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Error,
        Message = "The local journal could not be written ({Error}); records go to the table directly until it can.")]
    private static partial void LogJournalFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Debug, Message = "Spool replay deferred ({Error}).")]
    private static partial void LogReplayFailed(ILogger logger, string error);
}
