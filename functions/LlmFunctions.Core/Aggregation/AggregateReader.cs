using Azure;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Options;
using Polly;

namespace LlmFunctions.Core.Aggregation;

/// <summary>
/// The one reader of the aggregates: the folded state and slot rows plus the tail of every instance's published sums
/// for the minutes not folded yet (<see cref="TailSummaries"/>), under one rule, that every write minute counts once:
/// in a slot when it is below the watermark, in the tail when it is not, with the watermark checked after the read.
/// <c>/metrics</c>, <c>/spend</c>, <c>/spend/me</c>, the budget rollup and, through its rows, enforcement are views of it.
/// </summary>
internal sealed class AggregateReader(TableStore store, AggregateFolder folder, TailSummaries tail, DayRows days, TimeProvider time,
    IOptions<MetricsOptions> options)
{
    /// <summary>How much earlier than the tail's read a record must have been committed to be surely in it.</summary>
    private static readonly TimeSpan TailDelay = TailSummaries.FlushInterval + TimeSpan.FromSeconds(2);

    /// <summary>Reads of the folded slots before <see cref="ReadFoldedAsync"/> gives up on folds that keep moving the watermark.</summary>
    private const int ReadAttempts = 5;

    private readonly int _maxModels = options.Value.MaxModels;

    /// <summary>A read that a fold overtook (null) is done again at once: the fold has committed, there is nobody to wait for.</summary>
    private readonly ResiliencePipeline<AggregateSnapshot?> _rereads =
        OptimisticConcurrency.Retry<AggregateSnapshot?>(time, ReadAttempts, lost: s => s is null, pause: _ => TimeSpan.Zero);

    /// <summary>
    /// The snapshot a scrape renders: the folded state plus every instance's sums for the minutes not folded yet
    /// (<see cref="TailSummaries"/>): a few rows, whatever the request rate or history.
    /// </summary>
    public Task<AggregateSnapshot> SnapshotAsync(CancellationToken cancellationToken) => SnapshotAsync(foldBehind: true, cancellationToken);

    /// <summary>The snapshot; <paramref name="foldBehind"/> starts a fold in the background when the fold is behind.</summary>
    private async Task<AggregateSnapshot> SnapshotAsync(bool foldBehind, CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);

        // This instance's own commits are in the tail before it is read; other instances' within a flush interval.
        await tail.FlushAsync(cancellationToken).ConfigureAwait(false);
        var tailReadAt = time.GetUtcNow();
        var (state, _) = await LoadAsync(cancellationToken).ConfigureAwait(false);
        if (state is null)
        {
            // The first scrape of a deployment creates the state (and folds whatever history there is) before reading.
            await folder.FoldAsync(cancellationToken).ConfigureAwait(false);
            (state, _) = await LoadAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (foldBehind && string.CompareOrdinal(state.Watermark, RecordKeys.Minute(folder.FoldableBefore())) < 0)
        {
            // Keep the fold moving even without the timer, but off the scrape's path: the tail covers those minutes.
            folder.FoldInBackground();
        }

        state ??= new AggregateState();
        var newestFolded = state.NewestFolded;
        var tailUsage = new SortedDictionary<string, Dictionary<SpendKey, UsageSums>>(StringComparer.Ordinal);
        long unfolded = 0;
        var watermark = state.Watermark;
        foreach (var (minute, delta) in await tail.ReadAsync(watermark, cancellationToken).ConfigureAwait(false))
        {
            // Minute by minute, as the fold will add them, so model labels are granted the same way.
            state.Merge(delta, _maxModels);
            tailUsage[minute] = delta.Usage;
            unfolded += delta.Records;
        }

        var newestAge = newestFolded == default ? (TimeSpan?)null : time.GetUtcNow() - newestFolded;
        return new AggregateSnapshot(state, unfolded, newestAge, tailReadAt - TailDelay) { Watermark = watermark, TailUsage = tailUsage };
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
    public async Task<AggregateSnapshot> ReadFoldedAsync(DateTimeOffset from, DateTimeOffset to,
        Action<DateTimeOffset, Dictionary<SpendKey, UsageSums>> add, CancellationToken cancellationToken)
    {
        // Whole days already summed (final, so outside the watermark check below); slots only for the rest.
        var readFrom = await days.ReadAsync(from, to, add, cancellationToken).ConfigureAwait(false);
        var read = await _rereads.ExecuteAsync(async ct =>
        {
            // Without a fold of its own: the tail covers the unfolded minutes, and a fold started here would race the read.
            var snapshot = await SnapshotAsync(foldBehind: false, ct).ConfigureAwait(false);
            var held = snapshot.Watermark.Length == 0
                ? DateTimeOffset.MaxValue
                : RecordKeys.ParseMinute(SlotRow.SlotOf(RecordKeys.ParseMinute(snapshot.Watermark)));
            (DateTimeOffset Slot, Dictionary<SpendKey, UsageSums> Usage)? holding = null;
            await foreach (var (slot, usage) in SlotsAsync(readFrom, to, ct).ConfigureAwait(false))
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

            var (state, _) = await LoadAsync(ct).ConfigureAwait(false);
            if (!string.Equals(state?.Watermark ?? "", snapshot.Watermark, StringComparison.Ordinal))
            {
                readFrom = held > readFrom ? held : readFrom;
                return null; // a fold moved the watermark: read again from the slot that held it
            }

            if (holding is { } h)
            {
                add(h.Slot, h.Usage);
            }

            return snapshot;
        }, cancellationToken).ConfigureAwait(false);
        return read ?? throw new RequestFailedException(503, $"Folds moved the watermark during each of {ReadAttempts} reads.");
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

    /// <summary>The fold's state row as stored (null before the first fold).</summary>
    internal Task<(AggregateState? State, ETag? ETag)> LoadAsync(CancellationToken cancellationToken) =>
        StateRow.LoadAsync(store.Aggregates, cancellationToken);
}
