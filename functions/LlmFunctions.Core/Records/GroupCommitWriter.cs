using System.Threading.Channels;
using Azure;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace LlmFunctions.Core.Records;

/// <summary>
/// Takes queued records in batches and commits each as one entity-group transaction per partition, several at once
/// (<c>Storage__MaxCommitsInFlight</c>); a batch storage does not take goes to the spool (docs/architecture.md,
/// "Writing records"). Runs until the queue it reads is closed and empty, so a stop writes everything queued.
/// </summary>
internal sealed partial class GroupCommitWriter : BackgroundService
{
    private readonly RecordWriter _writer;
    private readonly TableStore _store;
    private readonly RecordSpool _spool;
    private readonly RecordJournal _journal;
    private readonly StorageOutage _outage;
    private readonly TimeProvider _time;
    private readonly InFlightCalls _inFlight;
    private readonly ICommitObserver _tail;
    private readonly ILogger<GroupCommitWriter> _logger;
    private readonly ResiliencePipeline _retry;
    private readonly TimeSpan _queuedCommitDelay;
    private readonly TimeSpan _commitInterval;
    private readonly int _maxInFlight;
    private long _lastCommitTimestamp;

    /// <summary>
    /// How long after its PartitionKey was chosen (or journaled) an attempt to write a batch may still start: the fold's
    /// lag less 7 s, so that an attempt of at most 3 s lands before the fold's watermark passes its key (3 s with the
    /// smallest lag, 10 s; 53 s by default). Later, the batch goes to the spool (or its segment to the replay), which
    /// keys it afresh: retries under one key never outlast the fold.
    /// </summary>
    private readonly TimeSpan _keyWindow;

    public GroupCommitWriter(RecordWriter writer, TableStore store, RecordSpool spool, RecordJournal journal, StorageOutage outage,
        TimeProvider time, InFlightCalls inFlight, ICommitObserver tail, IOptions<StorageOptions> options, IOptions<MetricsOptions> metrics,
        ILogger<GroupCommitWriter> logger)
    {
        _writer = writer;
        _store = store;
        _spool = spool;
        _journal = journal;
        _outage = outage;
        _time = time;
        _inFlight = inFlight;
        _tail = tail;
        _logger = logger;
        _queuedCommitDelay = TimeSpan.FromMilliseconds(options.Value.QueuedCommitDelayMs);
        _commitInterval = TimeSpan.FromMilliseconds(options.Value.CommitIntervalMs);
        _maxInFlight = options.Value.MaxCommitsInFlight;
        _keyWindow = TimeSpan.FromSeconds(Math.Max(1, metrics.Value.FoldLagSeconds - 7));

        // Unreachable: two attempts (each fails fast, TableStore's 3 s network timeout), then the spool and the outage
        // rule. Throttled: up to six attempts backing off from 100 ms with jitter (about 3 s, well inside the fold's lag,
        // since the PartitionKey is chosen before the first), then the spool without an outage.
        _retry = StorageFailure.Retry(time, unreachableRetries: 1, (attempt, ex) => LogRetry(_logger, attempt, StorageFailure.Describe(ex)));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (!_writer.JournalEnabled)
            {
                await _writer.CloseIncomingAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            await base.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Takes batches off the queue and writes them to the table (or the spool), until the queue is closed. Like a
    /// database log: no timer on the way (unless <c>Storage__CommitIntervalMs</c> asks for one), what is queued is
    /// committed as soon as a commit slot is free, and up to <c>Storage__MaxCommitsInFlight</c> transactions are under
    /// way at once, so a batch grows with the load and with storage's latency instead of by waiting.
    /// </summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var reader = _writer.TableBound;
        var commits = new List<Task>(_maxInFlight);

        // Not stoppingToken: a stop closes the queue, and what is in it is still written.
        while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            commits.RemoveAll(static t => t.IsCompleted);
            if (commits.Count >= _maxInFlight)
            {
                // Every slot is busy: records queue up meanwhile and make the next batch larger.
                await Task.WhenAny(commits).ConfigureAwait(false);
                continue;
            }

            var batch = new List<PendingRecord>(RecordWriter.MaxBatch);
            await CollectAsync(reader, batch).ConfigureAwait(false);
            if (batch.Count > 0)
            {
                commits.Add(CommitGuardedAsync(batch));
            }
        }

        await Task.WhenAll(commits).ConfigureAwait(false);
    }

    /// <summary>Writes one batch; a defect of ours gives its callers the error instead of ending the loop (they would hang).</summary>
    private async Task CommitGuardedAsync(List<PendingRecord> batch)
    {
        try
        {
            await WriteBatchAsync(batch).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            LogBatchFailed(_logger, ex, batch.Count);
            foreach (var p in batch)
            {
                _writer.Fail(p, ex);
            }
        }
    }

    /// <summary>
    /// Journaled records keep the PartitionKey the journal holds for them (a batch may straddle a minute); the others
    /// (no journal, or its append failed) have none and are written under the current minute.
    /// </summary>
    private async Task WriteBatchAsync(List<PendingRecord> batch)
    {
        var start = 0;
        for (var i = 1; i <= batch.Count; i++)
        {
            if (i == batch.Count || batch[i].PartitionKey != batch[start].PartitionKey)
            {
                var run = start == 0 && i == batch.Count ? batch : batch.GetRange(start, i - start);
                await (run[0].PartitionKey is { } journalKey ? WriteJournaledAsync(run, journalKey) : CommitAsync(run)).ConfigureAwait(false);
                start = i;
            }
        }
    }

    /// <summary>
    /// Fills a batch from the queue: what is there; then, when no caller waits on it, up to
    /// <c>Storage__QueuedCommitDelayMs</c> for more; then, while other calls are in progress, up to the rest of
    /// <c>Storage__CommitIntervalMs</c> since the last commit. A lone caller is never held: nothing would join its batch.
    /// </summary>
    private async Task CollectAsync(ChannelReader<PendingRecord> reader, List<PendingRecord> batch)
    {
        var awaited = Drain(reader, batch);
        if (!awaited && batch.Count < RecordWriter.MaxBatch && _queuedCommitDelay > TimeSpan.Zero)
        {
            awaited = await FillAsync(reader, batch, _queuedCommitDelay, untilAwaited: true).ConfigureAwait(false);
        }

        var sinceLast = _time.GetElapsedTime(_lastCommitTimestamp);
        if (awaited && batch.Count < RecordWriter.MaxBatch && sinceLast < _commitInterval && _inFlight.Count > batch.Count)
        {
            await FillAsync(reader, batch, _commitInterval - sinceLast, untilAwaited: false).ConfigureAwait(false);
        }

        _lastCommitTimestamp = _time.GetTimestamp();
    }

    /// <summary>Moves queued records into the batch, up to its size; true when a caller waits on one of them.</summary>
    private static bool Drain(ChannelReader<PendingRecord> reader, List<PendingRecord> batch)
    {
        var awaited = false;
        while (batch.Count < RecordWriter.MaxBatch && reader.TryRead(out var p))
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
    private async Task<bool> FillAsync(ChannelReader<PendingRecord> reader, List<PendingRecord> batch, TimeSpan delay, bool untilAwaited)
    {
        using var timeout = new CancellationTokenSource(delay, _time);
        var awaited = false;
        while (batch.Count < RecordWriter.MaxBatch)
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

    /// <summary>
    /// Writes journaled records under their journal key and reports them to the journal: stored, or failed when
    /// storage is down or they came too late for the key (the replay of their segment writes them then).
    /// </summary>
    private async Task WriteJournaledAsync(List<PendingRecord> run, string partitionKey)
    {
        var stored = !_outage.IsDown && await TryWriteAsync(run, partitionKey, run[0].JournaledAt).ConfigureAwait(false);
        // One report per segment the run spans (a segment is sealed after 10,000 records, so a run may span two).
        var from = 0;
        for (var i = 1; i <= run.Count; i++)
        {
            if (i == run.Count || run[i].Segment != run[from].Segment)
            {
                _journal.Report(run[from].Segment!, i - from, stored);
                from = i;
            }
        }
    }

    /// <summary>Writes a batch to the table under the current minute, or to the spool when storage fails.</summary>
    private async Task CommitAsync(List<PendingRecord> batch)
    {
        if (_outage.IsDown)
        {
            // Storage just failed us: write this batch to the spool now rather than make its callers wait out two
            // more timeouts; the replayer brings it to the table.
            await SpoolAsync(batch, attemptedPartitionKey: null, "storage down").ConfigureAwait(false);
            return;
        }

        var keyedAt = _time.GetUtcNow();
        var partitionKey = RecordKeys.PartitionKey(keyedAt, _writer.Shard);
        if (await TryWriteAsync(batch, partitionKey, keyedAt).ConfigureAwait(false))
        {
            foreach (var p in batch)
            {
                _writer.Settle(p, RecordLocation.Table);
            }
        }
        else
        {
            await SpoolAsync(batch, partitionKey, "its write failed").ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Two attempts to write a batch under one PartitionKey (chosen at <paramref name="keyedAt"/>), each only while the
    /// key is young enough (<see cref="_keyWindow"/>); after the second failure storage counts as down.
    /// </summary>
    private async Task<bool> TryWriteAsync(List<PendingRecord> batch, string partitionKey, DateTimeOffset keyedAt)
    {
        var records = new List<CallRecord>(batch.Count);
        foreach (var p in batch)
        {
            records.Add(p.Record);
        }

        IReadOnlyList<CallRecord>? stored;
        Exception? lastFailure = null;
        try
        {
            // A record storage refuses is isolated inside StoreCallsAsync and never fails the batch: a refusal is not an outage.
            stored = await _retry.ExecuteAsync(async _ =>
            {
                if (_time.GetUtcNow() - keyedAt > _keyWindow)
                {
                    return null; // an attempt now might land after the fold passed its key's minute, never counted
                }

                _writer.CountTransaction();
                try
                {
                    return await _store.StoreCallsAsync(partitionKey, records, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    lastFailure = ex;
                    throw;
                }
            }).ConfigureAwait(false);
        }
        catch (Exception ex) when (StorageFailure.Any(ex))
        {
            GaveUp(batch.Count, ex);
            return false;
        }

        if (stored is null)
        {
            LogKeyTooOld(_logger, batch.Count, (int)_keyWindow.TotalSeconds);
            if (lastFailure is not null)
            {
                GaveUp(batch.Count, lastFailure); // the window closed on a failing storage: the same verdict as the last attempt
            }

            return false;
        }

        _tail.Committed(partitionKey, stored);
        _writer.CountWritten(stored.Count);
        return true;
    }

    /// <summary>A batch's attempts ended on <paramref name="failure"/>: throttled, later batches still try the table; else storage is down.</summary>
    private void GaveUp(int count, Exception failure)
    {
        if (StorageFailure.IsThrottled(failure))
        {
            // Storage answers, slowly: this batch goes to the spool, the next ones still try the table.
            LogStillThrottled(_logger, count, StorageFailure.Describe(failure));
        }
        else
        {
            LogWriteFailed(_logger, count, StorageFailure.Describe(failure));
            _outage.Failed();
        }
    }

    private async Task SpoolAsync(List<PendingRecord> batch, string? attemptedPartitionKey, string reason)
    {
        try
        {
            await _spool.AppendAsync(PendingRecord.ToSpooled(batch, attemptedPartitionKey), CancellationToken.None).ConfigureAwait(false);
            _writer.CountSpooled(batch.Count);
            LogSpooled(_logger, batch.Count, reason);
            foreach (var p in batch)
            {
                _writer.Settle(p, RecordLocation.Spool);
            }
        }
        catch (Exception ex)
        {
            LogLost(_logger, ex, batch.Count);
            foreach (var p in batch)
            {
                _writer.Fail(p, ex);
            }
        }
    }

    [LoggerMessage(EventId = 2018, Level = LogLevel.Warning,
        Message = "{Count} records were still unwritten {Seconds} s after their key was chosen; the replay writes them under a fresh one.")]
    private static partial void LogKeyTooOld(ILogger logger, int count, int seconds);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Writing records failed ({Error}); retrying (attempt {Attempt}).")]
    private static partial void LogRetry(ILogger logger, int attempt, string error);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Storage unavailable ({Error}): spooled {Count} records to local disk.")]
    private static partial void LogSpooled(ILogger logger, int count, string error);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Critical, Message = "Could not spool {Count} records: they are lost.")]
    private static partial void LogLost(ILogger logger, Exception exception, int count);

    [LoggerMessage(EventId = 2016, Level = LogLevel.Critical, Message = "Writing a batch of {Count} records failed unexpectedly; its callers get the error.")]
    private static partial void LogBatchFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(EventId = 2017, Level = LogLevel.Warning,
        Message = "Storage kept throttling a batch of {Count} records ({Error}); it goes to the spool, later batches still try the table.")]
    private static partial void LogStillThrottled(ILogger logger, int count, string error);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning,
        Message = "Writing {Count} records failed twice ({Error}); storage counts as down for a few seconds.")]
    private static partial void LogWriteFailed(ILogger logger, int count, string error);
}
