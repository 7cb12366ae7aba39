using Azure;
using LlmFunctions.Core.Records;

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

/// <summary>
/// The storage side of reserved budgets: leases slices of a budget's limit to instances, so that the leases given out
/// never add up to more than the limit, whatever the number of instances (each change is a read and a write with the
/// row's ETag). An instance spends within its slice without asking storage again; see <see cref="BudgetReservations"/>
/// and docs/architecture.md ("Reserved budgets").
/// </summary>
internal sealed class BudgetLedger(TableStore store, TimeProvider time)
{
    /// <summary>A slice not renewed for this long goes into the base: its lease stays spent, never given out again.</summary>
    internal static readonly TimeSpan CompactAfter = TimeSpan.FromMinutes(10);

    private const int Attempts = 10;

    /// <summary>
    /// Sets slice <paramref name="sliceId"/>'s lease to cover <paramref name="holdsNanoUsd"/> (its settled spend and its
    /// reservations in flight) plus <paramref name="wantsNanoUsd"/> (the next call's worst case), and up to
    /// <paramref name="extraNanoUsd"/> more where the budget has it, so the next calls need no storage request.
    /// </summary>
    /// <remarks>A lease only grows (calls on the instance may be reserving within it while this runs), except when
    /// <paramref name="release"/> sets it to what the slice holds: when its instance stops and nothing is in flight.</remarks>
    /// <param name="seedNanoUsd">Spend counted before the ledger existed (read only when the period's row is created).</param>
    public async Task<(LeaseVerdict Verdict, long LeasedNanoUsd)> LeaseAsync(string budget, string periodKey, long limitNanoUsd, string sliceId,
        bool sliceIsNew, long holdsNanoUsd, long wantsNanoUsd, long extraNanoUsd, Func<CancellationToken, Task<long>> seedNanoUsd,
        CancellationToken cancellationToken, bool release = false)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            var entity = await store.Rollups.GetAsync(budget, LedgerRow.RowKeyPrefix + periodKey, select: null, cancellationToken).ConfigureAwait(false);
            var row = entity is not null
                ? LedgerRow.FromEntity(entity)
                : new LedgerRow { Budget = budget, PeriodKey = periodKey, BaseNanoUsd = await seedNanoUsd(cancellationToken).ConfigureAwait(false) };
            var now = time.GetUtcNow();
            row.Compact(now - CompactAfter, keep: sliceId);
            if (!sliceIsNew && !row.Slices.ContainsKey(sliceId))
            {
                return (LeaseVerdict.Gone, 0);
            }

            // What the others have not taken; it always covers this slice's own lease, which nobody else can take.
            var free = limitNanoUsd - row.CommittedNanoUsd(except: sliceId);
            if (!release && holdsNanoUsd + wantsNanoUsd > free)
            {
                return (LeaseVerdict.Refused, Math.Max(0, free - holdsNanoUsd));
            }

            var current = row.Slices.TryGetValue(sliceId, out var entry) ? entry.LeasedNanoUsd : 0;
            var leased = release ? holdsNanoUsd : Math.Max(current, Math.Min(free, holdsNanoUsd + wantsNanoUsd + extraNanoUsd));
            row.Slices[sliceId] = new LedgerEntry(leased, now);
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

                return (LeaseVerdict.Granted, leased);
            }
            catch (RequestFailedException ex) when (ex.Status is 409 or 412)
            {
                // Another instance changed the ledger since we read it: read it again, after a short real-time pause.
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(1, 5 * (attempt + 1))), cancellationToken).ConfigureAwait(false);
            }
        }

        throw new RequestFailedException(503, $"The ledger of budget '{budget}' changed on every one of {Attempts} attempts.");
    }
}
