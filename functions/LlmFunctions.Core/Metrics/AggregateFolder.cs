using System.Globalization;
using System.Runtime.CompilerServices;
using Azure;
using Azure.Data.Tables;
using LlmFunctions.Core.Records;
using LlmFunctions.Core.Spend;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Metrics;

/// <summary>
/// Folds call records into durable aggregates (table <c>LlmAggregates</c>, partition <c>state</c>: row <c>v1</c> holds
/// the <see cref="AggregateState"/> and its watermark, rows <c>spend-yyyyMMddHHmm</c> the spend per client and model of
/// each 15-minute UTC slot for budgets), one whole minute at a time, and takes snapshots for scrapes and rollups: the
/// state plus the tail of every instance's published sums (<see cref="TailSummaries"/>). The layout, the fold step and
/// the invariants it keeps are in docs/architecture.md ("Metrics: the fold and the tail").
/// </summary>
internal sealed partial class AggregateFolder(TableStore store, TailSummaries tail, TableHousekeeping housekeeping, DayRows days, TimeProvider time,
    IOptions<MetricsOptions> options, SpendKeyLimit keyLimit, ILogger<AggregateFolder> logger)
{
    internal const string PartitionKey = "state";
    internal const string StateRowKey = "v1";
    internal const string SpendRowPrefix = "spend-";

    /// <summary>How much earlier than the tail's read a record must have been committed to be surely in it.</summary>
    private static readonly TimeSpan TailDelay = TailSummaries.FlushInterval + TimeSpan.FromSeconds(2);

    /// <summary>
    /// The slot rows' bytes (<see cref="SpendKeyLimit"/>) past which a step ends at the next minute: that minute adds at
    /// most one row's bound, and the transaction stays under 4 MiB with the state row (binary goes as base64).
    /// </summary>
    private const long MaxStepSlotBytes = 1_200_000;

    /// <summary>Most records one fold step reads; the rest waits for the next step.</summary>
    internal int MaxRecordsPerStep { get; set; } = 50_000;

    private readonly MetricsOptions _options = options.Value;
    private readonly IReadOnlySet<string> _countedTags = options.Value.TagSet();
    private int _folding;

    public TimeSpan Lag => TimeSpan.FromSeconds(_options.FoldLagSeconds);

    /// <summary>
    /// The snapshot a scrape renders: the folded state plus every instance's sums for the minutes not folded yet
    /// (<see cref="TailSummaries"/>): a few rows, whatever the request rate or history.
    /// </summary>
    public Task<Snapshot> SnapshotAsync(CancellationToken cancellationToken) => SnapshotAsync(foldBehind: true, cancellationToken);

    /// <summary>The snapshot; <paramref name="foldBehind"/> starts a fold in the background when the fold is behind.</summary>
    private async Task<Snapshot> SnapshotAsync(bool foldBehind, CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);

        // This instance's own commits are in the tail before it is read; other instances' within a flush interval.
        await tail.FlushAsync(cancellationToken).ConfigureAwait(false);
        var tailReadAt = time.GetUtcNow();
        var (state, _) = await LoadAsync(cancellationToken).ConfigureAwait(false);
        if (state is null)
        {
            // The first scrape of a deployment creates the state (and folds whatever history there is) before reading.
            await FoldAsync(cancellationToken).ConfigureAwait(false);
            (state, _) = await LoadAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (foldBehind && string.CompareOrdinal(state.Watermark, RecordKeys.Minute(FoldableBefore())) < 0)
        {
            // Keep the fold moving even without the timer, but off the scrape's path: the tail covers those minutes.
            FoldInBackground();
        }

        state ??= new AggregateState();
        var newestFolded = state.NewestFolded;
        var tailSpend = new TailSpend();
        var tailUsage = new SortedDictionary<string, Dictionary<SpendKey, UsageSums>>(StringComparer.Ordinal);
        long unfolded = 0;
        var watermark = state.Watermark;
        foreach (var (minute, delta) in await tail.ReadAsync(watermark, cancellationToken).ConfigureAwait(false))
        {
            // Minute by minute, as the fold will add them, so model labels are granted the same way.
            state.Merge(delta, _options.MaxModels);
            tailSpend.Add(delta);
            tailUsage[minute] = delta.Usage;
            unfolded += delta.Records;
        }

        var newestAge = newestFolded == default ? (TimeSpan?)null : time.GetUtcNow() - newestFolded;
        return new Snapshot(state, unfolded, newestAge, tailSpend, tailReadAt - TailDelay) { Watermark = watermark, TailUsage = tailUsage };
    }

    /// <summary>Starts a fold unless one started here is still running; a failure waits for the next scrape or tick.</summary>
    private void FoldInBackground()
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
        var total = 0;
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var (folded, conflict, more) = await FoldStepAsync(cancellationToken).ConfigureAwait(false);
            total += folded;
            if (conflict)
            {
                LogConflict(logger);
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 50)), time, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (!more)
            {
                break;
            }
        }

        if (housekeeping.IsDue)
        {
            await housekeeping.RunAsync((await LoadAsync(cancellationToken).ConfigureAwait(false)).State?.Watermark, cancellationToken).ConfigureAwait(false);
        }

        return total;
    }

    internal async Task<(int Folded, bool Conflict, bool More)> FoldStepAsync(CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var (state, etag) = await LoadAsync(cancellationToken).ConfigureAwait(false);
        var limit = RecordKeys.Minute(FoldableBefore());
        if (state is null)
        {
            state = new AggregateState { Watermark = await FirstMinuteAsync(limit, cancellationToken).ConfigureAwait(false) };
        }

        if (string.CompareOrdinal(state.Watermark, limit) >= 0)
        {
            if (etag is null)
            {
                // Nothing to fold yet: store the empty state, so scrapes find one and never fold on their own path.
                try
                {
                    await store.Aggregates.AddAsync(ToEntity(state), cancellationToken).ConfigureAwait(false);
                }
                catch (RequestFailedException ex) when (ex.Status == 409)
                {
                    // Another instance stored it first.
                }
            }

            return (0, false, false);
        }

        var spend = new Dictionary<string, SlotSums>(StringComparer.Ordinal);
        var folded = 0;
        var more = false;
        string? currentMinute = null;
        MetricsDelta? minuteDelta = null;
        var next = limit;
        var limitDay = DateOnly.FromDateTime(RecordKeys.ParseMinute(limit).UtcDateTime);
        await foreach (var e in store.QueryCallsAsync(state.Watermark, limit, limitDay, cancellationToken).ConfigureAwait(false))
        {
            var minute = e.PartitionKey[..RecordKeys.MinuteFormat.Length];
            if (!string.Equals(minute, currentMinute, StringComparison.Ordinal))
            {
                await AddMinuteAsync(state, currentMinute, minuteDelta, spend, cancellationToken).ConfigureAwait(false);

                // Stop only at a minute boundary, so the watermark always means "every earlier minute is in";
                // and before one transaction would exceed its 100 entities or its 4 MiB.
                var slotKey = SpendRowPrefix + SlotOf(RecordKeys.ParseMinute(minute));
                if (folded >= MaxRecordsPerStep || (spend.Count >= 98 && !spend.ContainsKey(slotKey))
                    || spend.Values.Sum(s => s.Bytes) > MaxStepSlotBytes)
                {
                    next = minute;
                    more = true;
                    minuteDelta = null;
                    break;
                }

                currentMinute = minute;
                minuteDelta = new MetricsDelta();
            }

            minuteDelta!.Add(CallRecordMapper.FromEntity(e), _countedTags, keyLimit);
            folded++;
        }

        await AddMinuteAsync(state, currentMinute, minuteDelta, spend, cancellationToken).ConfigureAwait(false);
        state.Watermark = next;
        state.FoldedRecords += folded;

        var actions = new List<TableTransactionAction>(spend.Count + 1)
        {
            etag is { } tag
                ? new TableTransactionAction(TableTransactionActionType.UpdateReplace, ToEntity(state), tag)
                : new TableTransactionAction(TableTransactionActionType.Add, ToEntity(state)),
        };
        foreach (var (rowKey, slot) in spend)
        {
            actions.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, SlotRow.ToEntity(rowKey, slot.Usage)));
        }

        try
        {
            await store.Aggregates.SubmitAsync(actions, cancellationToken).ConfigureAwait(false);
        }
        catch (TableTransactionFailedException ex) when (ex.Status is 409 or 412)
        {
            return (0, true, true);
        }

        LogFolded(logger, folded, next);
        return (folded, false, more);
    }

    /// <summary>Adds one minute's records, summed, to the state and to the spend row of the minute's slot.</summary>
    private async Task AddMinuteAsync(AggregateState state, string? minute, MetricsDelta? delta,
        Dictionary<string, SlotSums> spend, CancellationToken cancellationToken)
    {
        if (minute is null || delta is null)
        {
            return;
        }

        state.Merge(delta, _options.MaxModels);
        var slotKey = SpendRowPrefix + SlotOf(RecordKeys.ParseMinute(minute));
        if (!spend.TryGetValue(slotKey, out var slot))
        {
            var row = await store.Aggregates.GetAsync(PartitionKey, slotKey, select: null, cancellationToken).ConfigureAwait(false);
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

    /// <summary>
    /// Hands <paramref name="add"/> each folded slot of [<paramref name="from"/>, <paramref name="to"/>) and returns a
    /// snapshot whose tail starts exactly where they end, so every minute counts once. A fold that commits during the
    /// read would count its minutes twice (in a slot row and in the tail), so the watermark must be the same after the
    /// read. Slots before the one that holds the snapshot's watermark are final (folds only add at or after it): they go
    /// to <paramref name="add"/> as they are read, and only the one holding it waits for the check and is read again when
    /// the watermark moved; so memory holds one slot row, whatever the range. Throws <see cref="RequestFailedException"/>
    /// (503) when folds keep moving it.
    /// </summary>
    public async Task<Snapshot> ReadFoldedAsync(DateTimeOffset from, DateTimeOffset to,
        Action<DateTimeOffset, Dictionary<SpendKey, UsageSums>> add, CancellationToken cancellationToken)
    {
        const int Attempts = 5;

        // Whole days already summed (final, so outside the watermark check below); slots only for the rest.
        var readFrom = await days.ReadAsync(from, to, add, cancellationToken).ConfigureAwait(false);
        for (var attempt = 1; ; attempt++)
        {
            // Without a fold of its own: the tail covers the unfolded minutes, and a fold started here would race the read.
            var snapshot = await SnapshotAsync(foldBehind: false, cancellationToken).ConfigureAwait(false);
            var held = snapshot.Watermark.Length == 0 ? DateTimeOffset.MaxValue : RecordKeys.ParseMinute(SlotOf(RecordKeys.ParseMinute(snapshot.Watermark)));
            (DateTimeOffset Slot, Dictionary<SpendKey, UsageSums> Usage)? holding = null;
            await foreach (var (slot, usage) in SlotsAsync(readFrom, to, cancellationToken).ConfigureAwait(false))
            {
                if (slot < held)
                {
                    add(slot, usage);
                }
                else if (slot == held)
                {
                    holding = (slot, usage);
                }
            }

            var (state, _) = await LoadAsync(cancellationToken).ConfigureAwait(false);
            if (string.Equals(state?.Watermark ?? "", snapshot.Watermark, StringComparison.Ordinal))
            {
                if (holding is { } h)
                {
                    add(h.Slot, h.Usage);
                }

                return snapshot;
            }

            if (attempt == Attempts)
            {
                throw new RequestFailedException(503, $"Folds moved the watermark during each of {Attempts} reads.");
            }

            readFrom = held > readFrom ? held : readFrom;
        }
    }

    /// <summary>Spend per <see cref="SpendKey"/> in nano-USD of the folded 15-minute UTC slots in [from, to).</summary>
    public async Task<Dictionary<SpendKey, long>> SpendAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var result = new Dictionary<SpendKey, long>();
        await foreach (var (_, usage) in SlotsAsync(from, to, cancellationToken).ConfigureAwait(false))
        {
            UsageSums.AddCosts(result, usage);
        }

        return result;
    }

    /// <summary>The folded usage of each 15-minute UTC slot in [from, to) that has calls, in order: one row per slot, whatever
    /// the number of calls in it.</summary>
    public IAsyncEnumerable<(DateTimeOffset Slot, Dictionary<SpendKey, UsageSums> Usage)> SlotsAsync(DateTimeOffset from, DateTimeOffset to,
        CancellationToken cancellationToken) => SlotRow.QueryAsync(store.Aggregates, from, to, cancellationToken);

    /// <summary>The 15-minute UTC slot a time falls in (zones are offset by multiples of 15 minutes).</summary>
    internal static string SlotOf(DateTimeOffset t)
    {
        var u = t.UtcDateTime;
        var slot = new DateTime(u.Year, u.Month, u.Day, u.Hour, u.Minute / 15 * 15, 0, DateTimeKind.Utc);
        return slot.ToString(RecordKeys.MinuteFormat, CultureInfo.InvariantCulture);
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

    internal async Task<(AggregateState? State, ETag? ETag)> LoadAsync(CancellationToken cancellationToken)
    {
        var e = await store.Aggregates.GetAsync(PartitionKey, StateRowKey, select: null, cancellationToken).ConfigureAwait(false);
        return e is not null ? (ChunkedJson.FromEntity(e, AggregateJsonContext.Default.AggregateState), e.ETag) : (null, null);
    }

    private static TableEntity ToEntity(AggregateState state)
    {
        var entity = ChunkedJson.ToEntity(PartitionKey, StateRowKey, state, AggregateJsonContext.Default.AggregateState);
        entity["Watermark"] = state.Watermark;
        entity["FoldedRecords"] = state.FoldedRecords;
        return entity;
    }

    /// <summary>What a scrape renders.</summary>
    /// <param name="TailReadAt">Records committed to the table before this time are in the snapshot (the tail's read less
    /// the longest an instance takes to publish its sums).</param>
    internal sealed record Snapshot(AggregateState State, long UnfoldedRecords, TimeSpan? NewestFoldedAge, TailSpend TailSpend, DateTimeOffset TailReadAt)
    {
        /// <summary>The first minute not folded: the tail covers it and every later one.</summary>
        public string Watermark { get; init; } = "";

        /// <summary>The tail's usage per write minute (<c>yyyyMMddHHmm</c>), from <see cref="Watermark"/> on.</summary>
        public IReadOnlyDictionary<string, Dictionary<SpendKey, UsageSums>> TailUsage { get; init; } =
            new Dictionary<string, Dictionary<SpendKey, UsageSums>>();
    }

    [LoggerMessage(EventId = 5006, Level = LogLevel.Warning, Message = "A fold started by a scrape failed ({Error}); the next scrape or timer tick folds.")]
    private static partial void LogBackgroundFoldFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Debug, Message = "Another instance folded at the same time; retrying the fold step.")]
    private static partial void LogConflict(ILogger logger);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Debug, Message = "Folded {Count} records; watermark now {Watermark}.")]
    private static partial void LogFolded(ILogger logger, int count, string watermark);
}
