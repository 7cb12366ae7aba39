using Azure;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Records;
using Polly;

namespace LlmFunctions.Core.Budgets;

/// <summary>What the ledger said to a request for a lease.</summary>
internal enum LeaseVerdict
{
    Granted,

    /// <summary>The budget cannot cover what the slice needs.</summary>
    Refused,

    /// <summary>The slice was compacted away (not renewed for <see cref="BudgetLedger.CompactAfter"/>): start a new one.</summary>
    Gone,
}

/// <summary>What a slice's instance knows of it when it asks the ledger: its id, whether the ledger has it yet, what it
/// has settled and has in flight (nano-USD), and the shard its records are written under.</summary>
internal readonly record struct SliceReport(string Id, bool IsNew, long SettledNanoUsd, long ReservedNanoUsd, int Shard)
{
    public long HoldsNanoUsd => SettledNanoUsd + ReservedNanoUsd;
}

/// <summary>
/// The storage side of reserved budgets: leases slices of a budget's limit to instances, so that the leases given out
/// never add up to more than the limit, whatever the number of instances (each change is a read and a write with the
/// row's ETag). An instance spends within its slice without asking storage again; see <see cref="BudgetReservations"/>
/// and docs/architecture.md ("Reserved budgets").
/// </summary>
internal sealed class BudgetLedger(TableStore store, TimeProvider time)
{
    /// <summary>A slice not renewed for this long is dead: its instance stopped reserving in it and has no call in flight
    /// (a live one renews while it has, <see cref="BudgetReservations.TouchAfter"/>), so its records are all written.</summary>
    internal static readonly TimeSpan CompactAfter = TimeSpan.FromMinutes(10);

    private const int Attempts = 10;

    /// <summary>
    /// An attempt whose write lost to another instance's (its result null) reads the ledger again after a short pause
    /// that grows with each loss (<see cref="PauseBeforeReread"/>). The pause is in real time, not on the injected clock:
    /// it is milliseconds, and the tests' fake clock stands still while their calls reserve.
    /// </summary>
    private static readonly ResiliencePipeline<(LeaseVerdict Verdict, long LeasedNanoUsd)?> LeaseRaces =
        OptimisticConcurrency.Retry<(LeaseVerdict Verdict, long LeasedNanoUsd)?>(TimeProvider.System, Attempts, r => r is null, PauseBeforeReread);

    /// <inheritdoc cref="LeaseRaces"/>
    private static readonly ResiliencePipeline<long?> ReconcileRaces =
        OptimisticConcurrency.Retry<long?>(TimeProvider.System, Attempts, r => r is null, PauseBeforeReread);

    /// <summary>From 1 ms to less than 5 ms after the first loss, 10 ms after the second, and so on.</summary>
    private static TimeSpan PauseBeforeReread(int lostAttempt) => OptimisticConcurrency.Jittered(1, 5 * (lostAttempt + 1));

    /// <summary>
    /// Sets <paramref name="slice"/>'s lease to cover what it holds (its settled spend and its reservations in flight)
    /// plus <paramref name="wantsNanoUsd"/> (the next call's worst case), and up to <paramref name="extraNanoUsd"/> more
    /// where the budget has it, so the next calls need no storage request.
    /// </summary>
    /// <remarks>A lease only grows (calls on the instance may be reserving within it while this runs), except when
    /// <paramref name="release"/> sets it to what the slice holds: when its instance stops and nothing is in flight.</remarks>
    /// <param name="seedNanoUsd">Spend counted before the ledger existed (read only when the period's row is created).</param>
    public async Task<(LeaseVerdict Verdict, long LeasedNanoUsd)> LeaseAsync(string budget, string periodKey, long limitNanoUsd, SliceReport slice,
        long wantsNanoUsd, long extraNanoUsd, Func<CancellationToken, Task<long>> seedNanoUsd, CancellationToken cancellationToken, bool release = false)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var lease = await LeaseRaces.ExecuteAsync<(LeaseVerdict, long)?>(async ct =>
        {
            var entity = await store.Rollups.GetAsync(budget, LedgerRow.RowKeyPrefix + periodKey, select: null, ct).ConfigureAwait(false);
            var row = entity is not null
                ? LedgerRow.FromEntity(entity)
                : new LedgerRow { Budget = budget, PeriodKey = periodKey, BaseNanoUsd = await seedNanoUsd(ct).ConfigureAwait(false) };
            var now = time.GetUtcNow();
            row.Compact(now - CompactAfter, keep: slice.Id);
            if (!slice.IsNew && (!row.Slices.TryGetValue(slice.Id, out var own) || own.Dead))
            {
                return (LeaseVerdict.Gone, 0);
            }

            // What the others have not taken; it always covers this slice's own lease, which nobody else can take.
            var free = limitNanoUsd - row.CommittedNanoUsd(except: slice.Id);
            if (!release && slice.HoldsNanoUsd + wantsNanoUsd > free)
            {
                return (LeaseVerdict.Refused, Math.Max(0, free - slice.HoldsNanoUsd));
            }

            var current = row.Slices.TryGetValue(slice.Id, out var entry) ? entry.LeasedNanoUsd : 0;
            var leased = release ? slice.HoldsNanoUsd : Math.Max(current, Math.Min(free, slice.HoldsNanoUsd + wantsNanoUsd + extraNanoUsd));
            row.Slices[slice.Id] = new LedgerEntry(leased, now, slice.SettledNanoUsd, slice.ReservedNanoUsd, slice.Shard);
            return await TryWriteAsync(row, ct).ConfigureAwait(false) ? (LeaseVerdict.Granted, leased) : null;
        }, cancellationToken).ConfigureAwait(false);
        return lease ?? throw new RequestFailedException(503, $"The ledger of budget '{budget}' changed on every one of {Attempts} attempts.");
    }

    /// <summary>
    /// Replaces each dead slice's lease in the period's ledger with what it spent, so that what it leased and did not
    /// spend is free again: its settled spend and reservations at its last renewal, plus the cost of the records its
    /// instance wrote in <paramref name="scope"/> from that renewal on (those of calls reserved after it; calls settled
    /// just before it count twice, which only blocks early). Capped at its lease. Returns the nano-USD given back.
    /// </summary>
    public async Task<long> ReconcileAsync(string budget, string periodKey, BudgetScope scope, CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var spentBy = new Dictionary<string, long>(StringComparer.Ordinal); // the records are read once, whatever the retries
        var given = await ReconcileRaces.ExecuteAsync<long?>(async ct =>
        {
            var entity = await store.Rollups.GetAsync(budget, LedgerRow.RowKeyPrefix + periodKey, select: null, ct).ConfigureAwait(false);
            if (entity is null)
            {
                return 0;
            }

            var row = LedgerRow.FromEntity(entity);
            row.Compact(time.GetUtcNow() - CompactAfter, keep: null);
            var dead = row.DeadSlices.ToList();
            if (dead.Count == 0)
            {
                return 0;
            }

            long freed = 0;
            foreach (var (id, entry) in dead)
            {
                if (!spentBy.TryGetValue(id, out var spent))
                {
                    spentBy[id] = spent = entry.Shard is { } shard
                        ? Math.Min(entry.LeasedNanoUsd, entry.SettledNanoUsd + entry.ReservedNanoUsd
                            + await RecordedAsync(shard, entry.RenewedAt, scope, ct).ConfigureAwait(false))
                        : entry.LeasedNanoUsd;
                }

                row.BaseNanoUsd += spent;
                freed += entry.LeasedNanoUsd - spent;
                row.Slices.Remove(id);
            }

            return await TryWriteAsync(row, ct).ConfigureAwait(false) ? freed : null;
        }, cancellationToken).ConfigureAwait(false);
        return given ?? 0; // renewals won every race this time: the next run tries again (meanwhile the leases stay counted)
    }

    /// <summary>
    /// The cost of the records in <paramref name="scope"/> written under <paramref name="shard"/> in the minutes from the
    /// one before <paramref name="renewedAt"/> (the slice reported what it held a moment before the ledger stamped the
    /// renewal) to <see cref="CompactAfter"/> after it: a slice reserves only for
    /// <see cref="BudgetReservations.LeaseTerm"/> after a renewal, and renews while a call is in flight, so the records of
    /// the calls it reserved after the renewal are in those minutes unless storage held them back (docs/architecture.md,
    /// "Unused leases"). Another instance that drew the same shard adds its records too: that only blocks early.
    /// </summary>
    private async Task<long> RecordedAsync(int shard, DateTimeOffset renewedAt, BudgetScope scope, CancellationToken cancellationToken)
    {
        long cost = 0;
        for (var minute = renewedAt.AddMinutes(-1); minute <= renewedAt + CompactAfter; minute = minute.AddMinutes(1)) // PartitionKey takes its minute
        {
            var partitionKey = RecordKeys.PartitionKey(minute, shard);
            var query = new TableQuery { PartitionKey = partitionKey, Select = CallRecordMapper.AggregatedColumns };
            await foreach (var e in store.QueryCallTableAsync(TableNames.CallsFor(partitionKey), query, cancellationToken).ConfigureAwait(false))
            {
                var record = CallRecordMapper.FromEntity(e);
                if (scope.Matches(SpendKey.Of(record)))
                {
                    cost += record.CostNanoUsd;
                }
            }
        }

        return cost;
    }

    /// <summary>Writes the row with its ETag (or adds it); false when another instance changed or added it first.</summary>
    private async Task<bool> TryWriteAsync(LedgerRow row, CancellationToken cancellationToken)
    {
        try
        {
            if (row.ETag is { } etag)
            {
                await store.Rollups.ReplaceAsync(row.ToEntity(), etag, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await store.Rollups.AddAsync(row.ToEntity(), cancellationToken).ConfigureAwait(false);
            }

            return true;
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412)
        {
            return false;
        }
    }
}
