using LlmFunctions.Core.Budgets;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Budgets;

/// <summary>The reserved budgets' ledger on its own (issue 32, item 9), over in-memory tables on the fake clock.</summary>
public sealed class BudgetLedgerTests
{
    private const long Limit = 1_000_000;
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    private static Task<(LeaseVerdict Verdict, long Leased)> Lease(BudgetLedger ledger, string slice, bool isNew, long holds, long wants,
        long extra = 0, bool release = false) =>
        ledger.LeaseAsync("hard", "2026-11-28", Limit, slice, isNew, holds, wants, extra, _ => Task.FromResult(100_000L), CancellationToken.None, release);

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
    /// A slice whose instance died is compacted after 10 minutes: its whole lease stays spent for the period (the budget
    /// blocks early, never late: the dead instance may have spent up to it), and the slice itself is gone.
    /// </summary>
    [Fact]
    public async Task ASliceNotRenewedForTenMinutes_KeepsItsLeaseSpent_AndIsGone()
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
}
