using Azure;
using Azure.Data.Tables;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;

namespace LlmFunctions.Core.Aggregation;

/// <summary>
/// The one fold: sums call records, one whole write minute at a time, into durable aggregates (table
/// <c>LlmAggregates</c>, partition <c>state</c>: the <see cref="StateRow"/> holds the <see cref="AggregateState"/> and its
/// watermark, each <see cref="SlotRow"/> the usage per <see cref="SpendKey"/> of a 15-minute UTC slot). Safe to run on
/// any instance at any time: a step commits with the state row's ETag, so two folds never count a minute twice.
/// <see cref="AggregateReader"/> reads what it writes. The layout, the fold step and the invariants it keeps are in
/// docs/architecture.md ("Metrics: the fold and the tail").
/// </summary>
internal sealed partial class AggregateFolder(TableStore store, TableHousekeeping housekeeping, TimeProvider time,
    IOptions<MetricsOptions> options, SpendKeyLimit keyLimit, ILogger<AggregateFolder> logger)
{
    /// <summary>
    /// The slot rows' bytes (<see cref="SpendKeyLimit"/>) past which a step ends at the next minute: that minute adds at
    /// most one row's bound, and the transaction stays under 4 MiB with the state row (binary goes as base64).
    /// </summary>
    private const long MaxStepSlotBytes = 1_200_000;

    /// <summary>Most records one fold step reads; the rest waits for the next step.</summary>
    internal int MaxRecordsPerStep { get; set; } = 50_000;

    /// <summary>Most steps one fold takes, steps that lost to another instance's fold included; the rest waits for the next
    /// scrape or tick.</summary>
    private const int MaxSteps = 10;

    /// <summary>A step that lost to another instance's commit runs again on the new state after a pause of 5 to 50 ms.</summary>
    private readonly ResiliencePipeline<(bool Conflict, bool More)> _lostSteps = OptimisticConcurrency.Retry<(bool Conflict, bool More)>(
        time, MaxSteps, lost: s => s.Conflict, pause: _ => OptimisticConcurrency.Jittered(5, 50), onLost: _ => LogConflict(logger));

    private readonly MetricsOptions _options = options.Value;
    private readonly IReadOnlySet<string> _countedTags = options.Value.TagSet();
    private int _folding;

    public TimeSpan Lag => TimeSpan.FromSeconds(_options.FoldLagSeconds);

    /// <summary>Starts a fold unless one started here is still running; a failure waits for the next scrape or tick.</summary>
    internal void FoldInBackground()
    {
        if (Interlocked.Exchange(ref _folding, 1) == 1)
        {
            return;
        }

        // Not in the scrape's execution context: its storage requests are not the scrape's (StorageRequestCounter).
        using var _ = ExecutionContext.SuppressFlow();
        Task.Run(async () =>
        {
            try
            {
                await FoldAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or TaskCanceledException or InvalidOperationException)
            {
                LogBackgroundFoldFailed(logger, ex.GetType().Name);
            }
            finally
            {
                Volatile.Write(ref _folding, 0);
            }
        });
    }

    /// <summary>Folds until caught up or a step limit is hit. Returns the records folded. Safe to run anywhere, any time.</summary>
    public async Task<int> FoldAsync(CancellationToken cancellationToken)
    {
        var (total, steps) = (0, 0);
        var (conflict, _) = await _lostSteps.ExecuteAsync(async ct =>
        {
            // Steps until caught up; a step that lost ends this attempt, and the strategy runs another on the new state.
            while (steps < MaxSteps)
            {
                steps++;
                var (folded, lost, more) = await FoldStepAsync(ct).ConfigureAwait(false);
                total += folded;
                if (lost || !more)
                {
                    return (lost, more);
                }
            }

            return (false, true);
        }, cancellationToken).ConfigureAwait(false);
        if (conflict)
        {
            LogGaveUp(logger, steps);
        }

        if (housekeeping.IsDue)
        {
            var (state, _) = await StateRow.LoadAsync(store.Aggregates, cancellationToken).ConfigureAwait(false);
            await housekeeping.RunAsync(state?.Watermark, cancellationToken).ConfigureAwait(false);
        }

        return total;
    }

    /// <summary>
    /// One step: the records of whole write minutes from the watermark on, up to the lag or a transaction's bounds,
    /// added to the state and the slot rows and committed with the state row's ETag. Conflict: another fold won.
    /// </summary>
    internal async Task<(int Folded, bool Conflict, bool More)> FoldStepAsync(CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var (state, etag) = await StateRow.LoadAsync(store.Aggregates, cancellationToken).ConfigureAwait(false);
        var limit = RecordKeys.Minute(FoldableBefore());
        state ??= new AggregateState { Watermark = await FirstMinuteAsync(limit, cancellationToken).ConfigureAwait(false) };
        if (string.CompareOrdinal(state.Watermark, limit) >= 0)
        {
            if (etag is null)
            {
                await StoreEmptyStateAsync(state, cancellationToken).ConfigureAwait(false);
            }

            return (0, false, false);
        }

        var slots = new Dictionary<string, SlotSums>(StringComparer.Ordinal);
        var (folded, next) = await AddMinutesAsync(state, limit, slots, cancellationToken).ConfigureAwait(false);
        state.Watermark = next;
        state.FoldedRecords += folded;
        if (!await CommitAsync(state, etag, slots, cancellationToken).ConfigureAwait(false))
        {
            return (0, true, true);
        }

        LogFolded(logger, folded, next);
        return (folded, false, !string.Equals(next, limit, StringComparison.Ordinal));
    }

    /// <summary>Nothing to fold yet: stores the empty state, so scrapes find one and never fold on their own path.</summary>
    private async Task StoreEmptyStateAsync(AggregateState state, CancellationToken cancellationToken)
    {
        try
        {
            await store.Aggregates.AddAsync(StateRow.ToEntity(state), cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            // Another instance stored it first.
        }
    }

    /// <summary>
    /// Adds the records of whole minutes from the watermark to <paramref name="limit"/>, a minute at a time, and returns
    /// how many and the first minute left out: <paramref name="limit"/>, or an earlier one where the step's bounds end it.
    /// </summary>
    private async Task<(int Folded, string Next)> AddMinutesAsync(AggregateState state, string limit, Dictionary<string, SlotSums> slots,
        CancellationToken cancellationToken)
    {
        var folded = 0;
        string? currentMinute = null;
        AggregateDelta? minuteDelta = null;
        var limitDay = DateOnly.FromDateTime(RecordKeys.ParseMinute(limit).UtcDateTime);
        await foreach (var e in store.QueryCallsAsync(state.Watermark, limit, limitDay, cancellationToken).ConfigureAwait(false))
        {
            var minute = e.PartitionKey[..RecordKeys.MinuteFormat.Length];
            if (!string.Equals(minute, currentMinute, StringComparison.Ordinal))
            {
                await AddMinuteAsync(state, currentMinute, minuteDelta, slots, cancellationToken).ConfigureAwait(false);

                // Stop only at a minute boundary, so the watermark always means "every earlier minute is in";
                // and before one transaction would exceed its 100 entities or its 4 MiB.
                var slotKey = SlotRow.Prefix + SlotRow.SlotOf(RecordKeys.ParseMinute(minute));
                if (folded >= MaxRecordsPerStep || (slots.Count >= 98 && !slots.ContainsKey(slotKey))
                    || slots.Values.Sum(s => s.Bytes) > MaxStepSlotBytes)
                {
                    return (folded, minute);
                }

                currentMinute = minute;
                minuteDelta = new AggregateDelta();
            }

            minuteDelta!.Add(CallRecordMapper.FromEntity(e), _countedTags, keyLimit);
            folded++;
        }

        await AddMinuteAsync(state, currentMinute, minuteDelta, slots, cancellationToken).ConfigureAwait(false);
        return (folded, limit);
    }

    /// <summary>The state row (If-Match its ETag) and the touched slot rows in one transaction; false when another fold won.</summary>
    private async Task<bool> CommitAsync(AggregateState state, ETag? etag, Dictionary<string, SlotSums> slots, CancellationToken cancellationToken)
    {
        var actions = new List<TableTransactionAction>(slots.Count + 1)
        {
            etag is { } tag
                ? new TableTransactionAction(TableTransactionActionType.UpdateReplace, StateRow.ToEntity(state), tag)
                : new TableTransactionAction(TableTransactionActionType.Add, StateRow.ToEntity(state)),
        };
        foreach (var (rowKey, slot) in slots)
        {
            actions.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, SlotRow.ToEntity(rowKey, slot.Usage)));
        }

        try
        {
            await store.Aggregates.SubmitAsync(actions, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TableTransactionFailedException ex) when (ex.Status is 409 or 412)
        {
            return false;
        }
    }

    /// <summary>Adds one minute's records, summed, to the state and to the spend row of the minute's slot.</summary>
    private async Task AddMinuteAsync(AggregateState state, string? minute, AggregateDelta? delta,
        Dictionary<string, SlotSums> spend, CancellationToken cancellationToken)
    {
        if (minute is null || delta is null)
        {
            return;
        }

        state.Merge(delta, _options.MaxModels);
        var slotKey = SlotRow.Prefix + SlotRow.SlotOf(RecordKeys.ParseMinute(minute));
        if (!spend.TryGetValue(slotKey, out var slot))
        {
            var row = await store.Aggregates.GetAsync(StateRow.PartitionKey, slotKey, select: null, cancellationToken).ConfigureAwait(false);
            var usage = row is null ? [] : SlotRow.Usage(row);
            spend[slotKey] = slot = new SlotSums(usage) { Bytes = SpendKeyLimit.Bytes(usage) };
        }

        var bytes = slot.Bytes;
        keyLimit.AddAll(slot.Usage, ref bytes, delta.Usage);
        slot.Bytes = bytes;
    }

    /// <summary>A slot row's usage as a step adds to it, and the bytes its keys take.</summary>
    private sealed class SlotSums(Dictionary<SpendKey, UsageSums> usage)
    {
        public Dictionary<SpendKey, UsageSums> Usage { get; } = usage;

        public long Bytes { get; set; }
    }

    /// <summary>The first minute the fold may not take yet: another instance may still commit records into it or later.</summary>
    internal DateTimeOffset FoldableBefore()
    {
        var t = time.GetUtcNow() - Lag;
        return new DateTimeOffset(t.Year, t.Month, t.Day, t.Hour, t.Minute, 0, TimeSpan.Zero);
    }

    private async Task<string> FirstMinuteAsync(string fallback, CancellationToken cancellationToken) =>
        await store.FirstCallPartitionKeyAsync(cancellationToken).ConfigureAwait(false) is { } first
            ? first[..RecordKeys.MinuteFormat.Length]
            : fallback;

    [LoggerMessage(EventId = 5006, Level = LogLevel.Warning, Message = "A fold started by a scrape failed ({Error}); the next scrape or timer tick folds.")]
    private static partial void LogBackgroundFoldFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Debug, Message = "Another instance folded at the same time; retrying the fold step.")]
    private static partial void LogConflict(ILogger logger);

    [LoggerMessage(EventId = 5008, Level = LogLevel.Debug, Message = "Other folds won the last of this fold's {Steps} steps; the next fold goes on.")]
    private static partial void LogGaveUp(ILogger logger, int steps);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Debug, Message = "Folded {Count} records; watermark now {Watermark}.")]
    private static partial void LogFolded(ILogger logger, int count, string watermark);
}
