using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Proxy;
using LlmFunctions.Core.Records;
using LlmFunctions.Core.Spend;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Budgets;

/// <summary>Reserved budgets over in-memory tables shared by two instances: leases never add up past the limit.</summary>
public sealed class BudgetReservationsTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 30, TimeSpan.Zero);

    private static readonly Dictionary<string, string?> Hard = new()
    {
        ["Budgets:hard:LimitUsd"] = "0.05",
        ["Budgets:hard:Action"] = "block",
        ["Budgets:hard:Reserve"] = "true",
    };

    private static readonly SpendKey Call = new("alpha", "gpt-4.1");

    [Fact]
    public async Task EightCallersOnTwoInstances_SpendUpToTheLimit_AndNeverPastIt()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tables, time, Hard);
        await using var b = new InMemoryCore(tables, time, Hard);
        await a.StartAsync();
        await b.StartAsync();
        long spent = 0, calls = 0;
        const long worst = 3_000_000;

        async Task CallerAsync(BudgetReservations reservations, int seed)
        {
            var random = new Random(seed);
            for (var i = 0; i < 1000; i++)
            {
                var (reservation, refusedBy, _) = await reservations.ReserveAsync(Call, worst, CancellationToken.None);
                if (refusedBy is not null)
                {
                    Assert.Equal("hard", refusedBy);
                    return;
                }

                await Task.Yield(); // in flight while the others reserve
                var cost = random.NextInt64(1_000_000, worst + 1);
                Interlocked.Add(ref spent, cost);
                Interlocked.Increment(ref calls);
                reservation!.Settle(cost);
            }

            Assert.Fail("a caller was never refused");
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => CallerAsync((i % 2 == 0 ? a : b).Get<BudgetReservations>(), i)));

        Assert.True(spent <= 50_000_000, $"spent {spent} nano-USD of a 50,000,000 limit in {calls} calls");
        // What is left unspent: the last calls' worst cases that no longer fit, and each instance's unused slice (≤ worst + limit/20).
        Assert.True(spent >= 50_000_000 - (worst + 2 * (worst + 2_500_000)), $"spent only {spent} nano-USD in {calls} calls");
        var ledger = tables.Entities(TableNames.Rollups).Single(e => e.RowKey.StartsWith(LedgerRow.RowKeyPrefix, StringComparison.Ordinal));
        Assert.True(LedgerRow.FromEntity(ledger).CommittedNanoUsd() <= 50_000_000);
    }

    [Fact]
    public async Task ACallWhoseWorstCaseDoesNotFit_IsBlocked_AndAStoppedInstanceGivesBackItsUnusedLease()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tables, time, Hard);
        await a.StartAsync();
        var enforcer = a.Get<BudgetEnforcer>();

        // 100K output tokens of gpt-4.1 ($8 per 1M) may cost $0.80: more than the whole budget.
        var tooBig = await enforcer.CheckAsync(Call, () => 10, 100_000, CancellationToken.None);
        Assert.Equal(BudgetVerdict.Block, tooBig.Verdict);
        Assert.Contains("Budget 'hard' (global, day, reserved) cannot cover this call", tooBig.Message, StringComparison.Ordinal);

        var small = await enforcer.CheckAsync(Call, () => 10, 100, CancellationToken.None);
        Assert.Equal(BudgetVerdict.Allow, small.Verdict);
        small.Reservation!.Settle(500_000);
        small.Reservation.Settle(500_000); // once only
        Assert.Null((await enforcer.CheckAsync(new SpendKey("alpha", "my-unpriced-model"), () => 10, 100, CancellationToken.None)).Reservation);

        await a.Get<BudgetReservations>().StopAsync(CancellationToken.None);
        var ledger = LedgerRow.FromEntity(tables.Entities(TableNames.Rollups).Single(e => e.RowKey.StartsWith("ledger-", StringComparison.Ordinal)));
        Assert.Equal(500_000, ledger.CommittedNanoUsd()); // what it spent, no more
    }

    [Fact]
    public async Task WhenTheLedgerCannotBeRead_AReservedBudgetRefusesTheCall_AndOthersPass()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tables, time, new(Hard) { ["Budgets:hard:Scope"] = "client:alpha" });
        await a.StartAsync();
        var enforcer = a.Get<BudgetEnforcer>();
        tables.Down = true;

        Assert.Equal(BudgetVerdict.Unavailable, (await enforcer.CheckAsync(Call, () => 10, 100, CancellationToken.None)).Verdict);
        Assert.Equal(BudgetVerdict.Allow, (await enforcer.CheckAsync(new SpendKey("beta", "gpt-4.1"), () => 10, 100, CancellationToken.None)).Verdict);
    }

    [Fact]
    public async Task ASliceNotRenewedForTenMinutes_IsCompactedIntoTheBase_AndItsInstanceStartsANewOne()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tables, time, Hard);
        await using var b = new InMemoryCore(tables, time, Hard);
        await a.StartAsync();
        await b.StartAsync();
        var (first, _, _) = await a.Get<BudgetReservations>().ReserveAsync(Call, 1_000_000, CancellationToken.None);
        first!.Settle(1_000_000);

        time.Advance(BudgetLedger.CompactAfter + TimeSpan.FromMinutes(1));
        var (other, _, _) = await b.Get<BudgetReservations>().ReserveAsync(Call, 20_000_000, CancellationToken.None);
        Assert.NotNull(other);
        var (within, _, _) = await a.Get<BudgetReservations>().ReserveAsync(Call, 2_000_000, CancellationToken.None);
        Assert.NotNull(within); // still within its old lease, which the base counts
        within!.Settle(2_000_000);
        var (again, _, _) = await a.Get<BudgetReservations>().ReserveAsync(Call, 1_000_000, CancellationToken.None);
        Assert.NotNull(again); // past it: a renewal finds the slice gone, and a new slice takes what is left

        var ledger = LedgerRow.FromEntity(tables.Entities(TableNames.Rollups).Single(e => e.RowKey.StartsWith("ledger-", StringComparison.Ordinal)));
        Assert.Equal(3_500_000, ledger.BaseNanoUsd); // a's first lease: its $0.001 and the $0.0025 slice beyond it, never given out again
        Assert.Equal(2, ledger.Slices.Count);
        Assert.Equal(47_000_000, ledger.CommittedNanoUsd()); // 3.5M base + b's 40M (twice its call) + a's new 3.5M
    }
}
