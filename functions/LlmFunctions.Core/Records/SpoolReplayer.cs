using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Records;

/// <summary>
/// Writes spooled batches back to the table every few seconds until the folder is empty, and on start (after a
/// crash); with the journal, first turns its finished segments that held a failed record into spool batches.
/// Started before the writers and stopped after them (<c>RecordPipeline</c>), so it converts what their last reports finished.
/// </summary>
internal sealed partial class SpoolReplayer(RecordWriter writer, TableStore store, RecordSpool spool, RecordJournal journal,
    StorageOutage outage, ICommitObserver tail, TimeProvider time, IOptions<MetricsOptions> metrics, ILogger<SpoolReplayer> logger) : BackgroundService
{
    private readonly TimeSpan _rekeyAfter = TimeSpan.FromSeconds(metrics.Value.FoldLagSeconds / 3.0);

    internal static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    /// <summary>How long a stop's last replay may take (within the host's shutdown timeout, 30 s by default).</summary>
    internal static readonly TimeSpan LastPassBound = TimeSpan.FromSeconds(10);

    /// <summary>Throttled reads and writes are retried (storage answers, slowly); a pass ends only when it does not answer.</summary>
    private readonly Polly.ResiliencePipeline _retry = StorageFailure.Retry(time, unreachableRetries: 0);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (writer.JournalEnabled)
                {
                    await journal.ConvertFinishedAsync(stoppingToken).ConfigureAwait(false);
                }

                if (await ReplayOnceAsync(stoppingToken).ConfigureAwait(false) > 0)
                {
                    // Storage took a spooled batch: it is back, new batches go to the table again.
                    outage.Recovered();
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                if (StorageFailure.IsUnreachable(ex))
                {
                    // Still down: the outage goes on (new batches straight to the spool; with Storage__LocalDiskIsDurable
                    // false, new calls refused before they cost) until a replay gets through.
                    outage.Failed();
                }

                LogReplayFailed(logger, ex.GetType().Name);
            }

            try
            {
                await Task.Delay(Interval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        if (writer.JournalEnabled)
        {
            // The writers have stopped: segments their last reports finished become spool batches for the next start.
            await journal.ConvertFinishedAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Stops the loop, then tries storage once more for what is spooled (the writers have run down, so this is all of
    /// it): on Functions the spool goes with the instance. Here rather than at the loop's end, which a stop right after
    /// start may never reach (the runtime may not invoke <c>ExecuteAsync</c> at all then, dotnet/runtime#131249).
    /// </summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await LastPassAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The stop's replay, bounded (<see cref="LastPassBound"/>, and the host's shutdown timeout) so a stop during an outage ends.</summary>
    private async Task LastPassAsync(CancellationToken stopTimeout)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(stopTimeout);
        bound.CancelAfter(LastPassBound);
        try
        {
            await ReplayOnceAsync(bound.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (StorageFailure.Any(ex) || ex is OperationCanceledException)
        {
            LogReplayFailed(logger, ex.GetType().Name);
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
        foreach (var file in spool.Files())
        {
            try
            {
                replayed += await ReplayFileAsync(file, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!StorageFailure.Any(ex) && !cancellationToken.IsCancellationRequested)
            {
                // This file cannot be replayed (unreadable, or a defect of ours on its content); storage failures end
                // the pass instead, since every file would meet them. Set aside, it no longer stops the files behind it.
                spool.Quarantine(file);
                LogQuarantined(logger, Path.GetFileName(file), ex.GetType().Name);
            }
        }

        return replayed;
    }

    /// <summary>Replays one spool file when it can be locked: the records written, or 0.</summary>
    private async Task<int> ReplayFileAsync(string file, CancellationToken cancellationToken)
    {
        List<SpooledRecord> records;
        var missingCount = 0;
        await using (var stream = RecordSpool.TryLock(file))
        {
            if (stream is null)
            {
                return 0;
            }

            records = await RecordSpool.ReadAsync(stream, cancellationToken).ConfigureAwait(false);
            var missing = await MissingAsync(records, cancellationToken).ConfigureAwait(false);
            missingCount = missing.Count;
            var left = missing.ToList();
            if (left.Count == 0 && records.Count > 0)
            {
                // All stored before, all published now: emptied under the lock. (With records left, the first key
                // written below rewrites the file with only those.)
                await RecordSpool.RewriteAsync(stream, left, cancellationToken).ConfigureAwait(false);
            }

            string? partitionKey = null;
            var keyedAt = 0L;
            var chunks = missing.Chunk(RecordWriter.MaxBatch).ToList();
            for (var i = 0; i < chunks.Count; i++)
            {
                writer.CountTransaction();
                // Copies: the store may shrink a refused record for its second try, and the file keeps it whole.
                var replayed = chunks[i].Select(r => r.Record.Copy()).ToList();
                var (key, stored) = await _retry.ExecuteAsync(async ct =>
                {
                    // A key the fold has not passed, checked right before each attempt (not only when chosen: a stall in
                    // between let the fold pass it, and the batch was never counted): chosen afresh once a third of the
                    // fold's lag went by, and in the file before any record is written under it.
                    for (var rekeys = 0; rekeys < 3 && (partitionKey is null || time.GetElapsedTime(keyedAt) > _rekeyAfter); rekeys++)
                    {
                        partitionKey = RecordKeys.PartitionKey(time.GetUtcNow(), writer.Shard);
                        keyedAt = time.GetTimestamp();
                        foreach (var r in left)
                        {
                            r.AttemptedPartitionKeys.Add(partitionKey);
                        }

                        await RecordSpool.RewriteAsync(stream, left, ct).ConfigureAwait(false);
                    }

                    return (partitionKey!, await store.StoreCallsAsync(partitionKey!, replayed, ct).ConfigureAwait(false));
                }, cancellationToken).ConfigureAwait(false);
                tail.Committed(key, stored);

                // Published: out of the file before the next step, so neither a later pass (this one cut short) nor another
                // replayer (between this lock's release and the delete) finds them stored and publishes them again.
                left.RemoveRange(0, chunks[i].Length);
                await RecordSpool.RewriteAsync(stream, left, cancellationToken).ConfigureAwait(false);
            }
        }

        File.Delete(file);
        LogReplayed(logger, records.Count, missingCount);
        return records.Count;
    }

    /// <summary>
    /// The records no earlier attempt stored; those one did are published to the tail (nobody has yet). One range query
    /// per PartitionKey the batch was attempted under, not a read per record.
    /// </summary>
    private async Task<List<SpooledRecord>> MissingAsync(List<SpooledRecord> records, CancellationToken cancellationToken)
    {
        var storedUnder = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var keyed in records.SelectMany(r => r.AttemptedPartitionKeys.Select(pk => (pk, r.Record.CallId))).GroupBy(x => x.pk))
        {
            var ids = keyed.Select(x => x.CallId).ToHashSet(StringComparer.Ordinal);
            var found = await _retry.ExecuteAsync(
                async ct => await store.StoredCallIdsAsync(keyed.Key, ids, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            foreach (var id in found)
            {
                storedUnder.TryAdd(id, keyed.Key);
            }
        }

        var missing = new List<SpooledRecord>(records.Count);
        foreach (var r in records)
        {
            if (storedUnder.TryGetValue(r.Record.CallId, out var pk))
            {
                tail.Committed(pk, [r.Record]);
            }
            else
            {
                missing.Add(r);
            }
        }

        return missing;
    }

    [LoggerMessage(EventId = 2004, Level = LogLevel.Information,
        Message = "Replayed a spooled batch of {Count} records ({Written} written, the rest were already stored).")]
    private static partial void LogReplayed(ILogger logger, int count, int written);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning,
        Message = "Spool file {File} cannot be replayed ({Error}); moved to the spool's quarantine folder, the other files go on.")]
    private static partial void LogQuarantined(ILogger logger, string file, string error);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Debug, Message = "Spool replay deferred ({Error}).")]
    private static partial void LogReplayFailed(ILogger logger, string error);
}
