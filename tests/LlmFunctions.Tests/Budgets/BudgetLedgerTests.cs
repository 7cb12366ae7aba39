using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Records;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Budgets;

/// <summary>The reserved budgets' ledger on its own (issue 32, item 9), over in-memory tables on the fake clock.</summary>
public sealed class BudgetLedgerTests
{
    private const long Limit = 1_000_000;
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    private static Task<(LeaseVerdict Verdict, long Leased)> Lease(BudgetLedger ledger, string slice, bool isNew, long holds, long wants,
        long extra = 0, bool release = false, long reserved = 0, int shard = 7) =>
        ledger.LeaseAsync("hard", "2026-11-28", Limit, new SliceReport(slice, isNew, holds - reserved, reserved, shard), wants, extra,
            _ => Task.FromResult(100_000L), CancellationToken.None, release);

    [Fact]
    public async Task Leases_NeverAddUpToMoreThanTheLimit_AndARefusalSaysWhatIsLeft()
    {
        var time = new FakeTimeProvider(Noon);
        await using var core = new InMemoryCore(new InMemoryTables(), time);
        var ledger = core.Get<BudgetLedger>();

        Assert.Equal((LeaseVerdict.Granted, 600_000), await Lease(ledger, "a", isNew: true, holds: 0, wants: 500_000, extra: 100_000));
        // 100,000 seeded, 600,000 leased to a: 300,000 left for b, which wants 400,000.
        Assert.Equal((LeaseVerdict.Refused, 300_000), await Lease(ledger, "b", isNew: true, holds: 0, wants: 400_000));
        Assert.Equal((LeaseVerdict.Granted, 300_000), await Lease(ledger, "b", isNew: true, holds: 0, wants: 200_000, extra: 500_000)); // capped
        Assert.Equal(LeaseVerdict.Refused, (await Lease(ledger, "a", isNew: false, holds: 600_000, wants: 1)).Verdict);
    }

    /// <summary>
    /// A slice whose instance died is taken for dead after 10 minutes: until the budget timer reconciles it, its whole
    /// lease stays spent (the budget blocks early, never late), and the slice itself is gone.
    /// </summary>
    [Fact]
    public async Task ASliceNotRenewedForTenMinutes_KeepsItsLeaseSpentUntilReconciled_AndIsGone()
    {
        var time = new FakeTimeProvider(Noon);
        await using var core = new InMemoryCore(new InMemoryTables(), time);
        var ledger = core.Get<BudgetLedger>();
        await Lease(ledger, "dead", isNew: true, holds: 0, wants: 400_000);

        time.Advance(BudgetLedger.CompactAfter + TimeSpan.FromSeconds(1));

        // The next lease written compacts the dead slice: 100,000 seeded and its 400,000 stay counted.
        Assert.Equal((LeaseVerdict.Granted, 100_000), await Lease(ledger, "live", isNew: true, holds: 0, wants: 100_000));
        Assert.Equal((LeaseVerdict.Refused, 400_000), await Lease(ledger, "live", isNew: false, holds: 100_000, wants: 450_000));
        Assert.Equal(LeaseVerdict.Gone, (await Lease(ledger, "dead", isNew: false, holds: 0, wants: 1)).Verdict);
    }

    /// <summary>
    /// A dead slice is reconciled to what it spent: what it had settled and in flight at its last renewal, and the cost
    /// of the records in the budget's scope that its instance (its shard) wrote from that renewal on. Its instance
    /// stopped without giving its lease back; after the reconcile, only that spend stays counted.
    /// </summary>
    [Fact]
    public async Task ADeadSlice_IsReconciledToItsSpendAndItsRecordsSinceItsLastRenewal_AndTheRestIsFreeAgain()
    {
        var time = new FakeTimeProvider(Noon);
        await using var core = new InMemoryCore(new InMemoryTables(), time);
        var ledger = core.Get<BudgetLedger>();
        Assert.True(BudgetScope.TryParse("client:alpha", out var scope));
        // Settled 100,000 and 50,000 in flight at its last renewal; leased 550,000 (and 100,000 seeded).
        Assert.Equal((LeaseVerdict.Granted, 550_000), await Lease(ledger, "dead", isNew: true, holds: 150_000, reserved: 50_000, wants: 400_000));

        // After that renewal its instance wrote two records of alpha's (30,000 each) and one of another client's; an
        // instance with another shard wrote one of alpha's. Only the first two are the dead slice's.
        var store = core.Get<Core.Records.TableStore>();
        var minute = Core.Records.RecordKeys.PartitionKey(Noon.AddMinutes(3), 7);
        await store.EnsureCallsTableAsync(minute);
        await store.SubmitCallsAsync(minute, [InMemoryCore.Record(Noon, costNanoUsd: 30_000), InMemoryCore.Record(Noon, costNanoUsd: 30_000),
            InMemoryCore.Record(Noon, client: "beta", costNanoUsd: 999)]);
        await store.SubmitCallsAsync(Core.Records.RecordKeys.PartitionKey(Noon.AddMinutes(3), 8), [InMemoryCore.Record(Noon, costNanoUsd: 77_777)]);

        // Outside the window (from the minute before the renewal to 10 minutes after it): not the slice's calls.
        await store.SubmitCallsAsync(Core.Records.RecordKeys.PartitionKey(Noon.AddMinutes(-2), 7), [InMemoryCore.Record(Noon, costNanoUsd: 1_111)]);
        await store.SubmitCallsAsync(Core.Records.RecordKeys.PartitionKey(Noon.AddMinutes(11), 7), [InMemoryCore.Record(Noon, costNanoUsd: 2_222)]);
        time.Advance(BudgetLedger.CompactAfter + TimeSpan.FromSeconds(1));

        var freed = await ledger.ReconcileAsync("hard", "2026-11-28", scope, CancellationToken.None);

        Assert.Equal(550_000 - (150_000 + 60_000), freed);
        // 100,000 seeded and the dead slice's 210,000: 690,000 left for a new slice.
        Assert.Equal((LeaseVerdict.Refused, 690_000), await Lease(ledger, "new", isNew: true, holds: 0, wants: 690_001));
        Assert.Equal((LeaseVerdict.Granted, 690_000), await Lease(ledger, "new", isNew: true, holds: 0, wants: 690_000));
        Assert.Equal(0, await ledger.ReconcileAsync("hard", "2026-11-28", scope, CancellationToken.None)); // once
    }

    [Fact]
    public async Task AReleasedSlice_GivesBackWhatItDoesNotHold()
    {
        var time = new FakeTimeProvider(Noon);
        await using var core = new InMemoryCore(new InMemoryTables(), time);
        var ledger = core.Get<BudgetLedger>();
        await Lease(ledger, "a", isNew: true, holds: 0, wants: 800_000);

        Assert.Equal((LeaseVerdict.Granted, 50_000), await Lease(ledger, "a", isNew: false, holds: 50_000, wants: 0, release: true));
        Assert.Equal((LeaseVerdict.Granted, 850_000), await Lease(ledger, "b", isNew: true, holds: 0, wants: 850_000));
    }

    /// <summary>
    /// Two instances renewing at once: a lease whose write lost to the other's (412) reads the ledger again and gets what
    /// the winner left, so the leases still fit the limit; one that loses every one of its 10 attempts is a 503.
    /// </summary>
    [Fact]
    public async Task ALeaseThatLostARace_ReadsAgainAndGetsWhatTheWinnerLeft_AndOneThatLosesEveryTime_Is503()
    {
        var tables = new InMemoryTables();
        await using var core = new InMemoryCore(tables, new FakeTimeProvider(Noon));
        var ledger = core.Get<BudgetLedger>();
        Assert.Equal((LeaseVerdict.Granted, 100_000), await Lease(ledger, "a", isNew: true, holds: 0, wants: 100_000));

        // Right before a write of a's, b renews (wanting 300,000): a's write finds the row changed since a read it.
        var races = 0;
        var attempts = 0;
        var racing = false;
        tables.BeforeWrite = table =>
        {
            if (table != TableNames.Rollups || racing)
            {
                return;
            }

            attempts++;
            if (races-- > 0)
            {
                racing = true;
                Lease(ledger, "b", isNew: true, holds: 0, wants: 300_000).GetAwaiter().GetResult();
                racing = false;
            }
        };

        races = 1;
        // Alone, a would get 800,000 (100,000 seeded); after b's renewal, 600,000 is left.
        Assert.Equal((LeaseVerdict.Granted, 600_000), await Lease(ledger, "a", isNew: false, holds: 100_000, wants: 100_000, extra: 600_000));
        Assert.Equal(2, attempts);

        (races, attempts) = (int.MaxValue, 0);
        var failed = await Assert.ThrowsAsync<Azure.RequestFailedException>(() => Lease(ledger, "a", isNew: false, holds: 600_000, wants: 0));
        Assert.Equal(503, failed.Status);
        Assert.Equal(10, attempts);
    }
}
