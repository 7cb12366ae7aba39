using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Records;
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
                var (reservation, refusedBy, _) = await reservations.ReserveAsync([Call], worst, CancellationToken.None);
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
        var tooBig = await enforcer.CheckAsync(Call, new CallSize(() => 10, 10, 100_000), CancellationToken.None);
        Assert.Equal(BudgetVerdict.Block, tooBig.Verdict);
        Assert.Contains("Budget 'hard' (global, day, reserved) cannot cover this call", tooBig.Message, StringComparison.Ordinal);

        var small = await enforcer.CheckAsync(Call, new CallSize(() => 10, 10, 100), CancellationToken.None);
        Assert.Equal(BudgetVerdict.Allow, small.Verdict);
        small.Reservation!.Settle(500_000);
        small.Reservation.Settle(500_000); // once only

        // A model without a price has no worst case: a reserved budget cannot let it through (it may be billed by its response model).
        var unpriced = await enforcer.CheckAsync(new SpendKey("alpha", "my-unpriced-model"), new CallSize(() => 10, 10, 100), CancellationToken.None);
        Assert.Equal(BudgetVerdict.Unpriced, unpriced.Verdict);
        Assert.Contains("model 'my-unpriced-model' has no price", unpriced.Message, StringComparison.Ordinal);

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

        Assert.Equal(BudgetVerdict.Unavailable, (await enforcer.CheckAsync(Call, new CallSize(() => 10, 10, 100), CancellationToken.None)).Verdict);
        var other = await enforcer.CheckAsync(new SpendKey("beta", "gpt-4.1"), new CallSize(() => 10, 10, 100), CancellationToken.None);
        Assert.Equal(BudgetVerdict.Allow, other.Verdict);
    }

    /// <summary>
    /// An instance quiet for more than 10 minutes finds its slice taken for dead when it reserves again (its lease term
    /// is over, so it renews first) and starts a new one; the old lease stays counted until the budget timer reconciles
    /// it to the instance's record, and then only that record's cost does.
    /// </summary>
    [Fact]
    public async Task ASliceNotRenewedForTenMinutes_IsTakenForDead_ItsInstanceStartsANewOne_AndTheTimerReconcilesTheOld()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tables, time, Hard);
        await using var b = new InMemoryCore(tables, time, Hard);
        await a.StartAsync();
        await b.StartAsync();
        var (first, _, _) = await a.Get<BudgetReservations>().ReserveAsync([Call], 1_000_000, CancellationToken.None);
        first!.Settle(1_000_000);
        await a.Get<RecordWriter>().WriteAsync(InMemoryCore.Record(time.GetUtcNow(), model: "gpt-4.1", costNanoUsd: 1_000_000));

        time.Advance(BudgetLedger.CompactAfter + TimeSpan.FromMinutes(1));
        var (other, _, _) = await b.Get<BudgetReservations>().ReserveAsync([Call], 20_000_000, CancellationToken.None);
        Assert.NotNull(other);
        var (again, _, _) = await a.Get<BudgetReservations>().ReserveAsync([Call], 2_000_000, CancellationToken.None);
        Assert.NotNull(again); // its renewal found the slice gone, and a new slice took what is left

        var ledger = Ledger(tables);
        Assert.Equal(3_500_000, Assert.Single(ledger.DeadSlices).Value.LeasedNanoUsd); // a's first lease: $0.001 and $0.0025 beyond
        Assert.Equal(2, ledger.Live.Count());
        Assert.Equal(48_000_000, ledger.CommittedNanoUsd()); // 3.5M dead + b's 40M (twice its call) + a's new 4.5M

        await b.Get<BudgetReservations>().ReconcileAsync(CancellationToken.None);
        ledger = Ledger(tables);
        Assert.Empty(ledger.DeadSlices);
        Assert.Equal(1_000_000, ledger.BaseNanoUsd); // what a's record says it spent
        Assert.Equal(45_500_000, ledger.CommittedNanoUsd());
    }

    /// <summary>The one reserved budget's ledger row (one budget, one period).</summary>
    internal static LedgerRow Ledger(InMemoryTables tables) =>
        LedgerRow.FromEntity(tables.Entities(TableNames.Rollups).Single(e => e.RowKey.StartsWith(LedgerRow.RowKeyPrefix, StringComparison.Ordinal)));

    /// <summary>
    /// The worst case counts every choice (n, best_of), every prompt byte as a token, and the dearest model the call may
    /// be billed at: its fallback's too, whose model budget then reserves it.
    /// </summary>
    [Fact]
    public async Task TheWorstCase_CountsChoices_ThePromptsBytes_AndTheFallbackModel()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tables, time, new(Hard)
        {
            ["Budgets:hard:Scope"] = "model:gpt-4.1",
            ["Upstream:FallbackModels"] = "gpt-4o-mini=gpt-4.1",
        });
        await a.StartAsync();
        var enforcer = a.Get<BudgetEnforcer>();
        var mini = new SpendKey("alpha", "gpt-4o-mini");

        // gpt-4.1 writes output at $8 per 1M: 2,000 tokens fit a $0.05 budget ($0.016), four choices of them do not ($0.064).
        var one = await enforcer.CheckAsync(Call, new CallSize(() => 10, 10, 2_000), CancellationToken.None);
        Assert.Equal(BudgetVerdict.Allow, one.Verdict);
        one.Reservation!.Settle(0);
        Assert.Equal(BudgetVerdict.Block, (await enforcer.CheckAsync(Call, new CallSize(() => 10, 10, 2_000, Choices: 4), CancellationToken.None)).Verdict);

        // 30,000 prompt bytes are up to 30,000 tokens at $2 per 1M ($0.06), whatever a tokenizer estimates.
        Assert.Equal(BudgetVerdict.Block, (await enforcer.CheckAsync(Call, new CallSize(() => 7_000, 30_000, 10), CancellationToken.None)).Verdict);

        // gpt-4o-mini falls back to gpt-4.1: the gpt-4.1 budget reserves it, at gpt-4.1's price.
        var viaFallback = await enforcer.CheckAsync(mini, new CallSize(() => 10, 10, 2_000), CancellationToken.None);
        Assert.NotNull(viaFallback.Reservation);
        viaFallback.Reservation!.Settle(0);
        var tooBig = await enforcer.CheckAsync(mini, new CallSize(() => 10, 10, 8_000), CancellationToken.None); // $0.0048 as mini, $0.064 as 4.1
        Assert.Equal(BudgetVerdict.Block, tooBig.Verdict);
        Assert.Contains("gpt-4o-mini or gpt-4.1", tooBig.Message, StringComparison.Ordinal);
        Assert.Null((await enforcer.CheckAsync(new SpendKey("alpha", "deepseek-chat"), new CallSize(() => 10, 10, 8_000), CancellationToken.None)).Reservation);

        // Absurd sizes saturate instead of wrapping (2^50 choices of 16,384 tokens once wrapped to a worst case of 0).
        var huge = await enforcer.CheckAsync(Call, new CallSize(() => 10, 10, null, Choices: 1L << 50), CancellationToken.None);
        Assert.Equal(BudgetVerdict.Block, huge.Verdict);
        Assert.Contains("more than its whole limit of $0.05", huge.Message, StringComparison.Ordinal);
        Assert.Equal(BudgetVerdict.Block, (await enforcer.CheckAsync(Call, new CallSize(() => 10, 10, long.MaxValue), CancellationToken.None)).Verdict);

        // Input stored upstream (Responses API) is not in the body: nothing bounds it.
        var stored = await enforcer.CheckAsync(Call, new CallSize(() => 10, 10, 100, HasStoredInput: true), CancellationToken.None);
        Assert.Equal(BudgetVerdict.UnboundedInput, stored.Verdict);
    }
}
