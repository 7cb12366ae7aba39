using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Records;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Budgets;

/// <summary>
/// Reserved budgets across instances that stop without a word (issue 25: a reservation is held a bounded time): two
/// instances of the app over one set of in-memory tables, on one fake clock.
/// </summary>
public sealed class DeadInstanceLeaseTests
{
    private const long Limit = 1_000_000_000; // $1
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private static readonly SpendKey Alpha = new("alpha", "gpt-4o-mini");

    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Budgets:hard:Scope"] = "client:alpha",
        ["Budgets:hard:LimitUsd"] = "1",
        ["Budgets:hard:Action"] = "block",
        ["Budgets:hard:Reserve"] = "true",
    };

    /// <summary>
    /// An instance reserved $0.10 for a call that cost $0.01 (leasing $0.20), wrote its record, and died without giving
    /// its lease back. Another instance cannot reserve $0.85 then ($0.80 free); once the lease is 10 minutes old, the
    /// budget timer's run reconciles it to the $0.01 its record says, and $0.85 fits.
    /// </summary>
    [Fact]
    public async Task AnInstanceThatDiedHoldingALease_HasWhatItDidNotSpendFreedByTheTimer_WithinElevenMinutes()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var dead = new InMemoryCore(tables, time, Settings);
        await using var live = new InMemoryCore(tables, time, Settings);
        await dead.StartAsync();
        await live.StartAsync();

        var (reservation, _, _) = await dead.Get<BudgetReservations>().ReserveAsync([Alpha], 100_000_000, CancellationToken.None);
        var record = InMemoryCore.Record(time.GetUtcNow(), costNanoUsd: 10_000_000);
        reservation!.Settle(record.CostNanoUsd);
        await dead.Get<RecordWriter>().WriteAsync(record);
        // It dies here: never stopped, so its lease is never given back.

        Assert.NotNull((await live.Get<BudgetReservations>().ReserveAsync([Alpha], 850_000_000, CancellationToken.None)).RefusedBy);

        time.Advance(BudgetLedger.CompactAfter + TimeSpan.FromSeconds(1));
        await live.Get<BudgetReservations>().ReconcileAsync(CancellationToken.None);

        Assert.Equal(10_000_000, BudgetReservationsTests.Ledger(live.Tables).BaseNanoUsd); // what its record says it spent, nothing more or less
        var (granted, refusedBy, _) = await live.Get<BudgetReservations>().ReserveAsync([Alpha], 850_000_000, CancellationToken.None);
        Assert.Null(refusedBy);
        Assert.NotNull(granted);
        Assert.Contains("stopped instances had leased and not spent", live.Logs.All, StringComparison.Ordinal);
    }

    /// <summary>
    /// A call in flight for longer than 10 minutes (a long stream) keeps its slice alive: the slice's touch loop renews
    /// it every 2 minutes while it holds a reservation, also after a renewal failed the way a storage timeout does (a
    /// cancellation of its own), so the timer never takes it for dead and frees nothing under it.
    /// </summary>
    [Fact]
    public async Task ASliceWithACallInFlight_RenewsEveryTwoMinutes_EvenAfterAFailedRenewal_SoTheTimerNeverTakesItForDead()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var busy = new InMemoryCore(tables, time, Settings);
        await using var timer = new InMemoryCore(tables, time, Settings);
        await busy.StartAsync();
        await timer.StartAsync();
        var reservations = busy.Get<BudgetReservations>();
        await reservations.StartAsync(CancellationToken.None); // its touch loop, on the fake clock
        var (inFlight, _, _) = await reservations.ReserveAsync([Alpha], 100_000_000, CancellationToken.None);

        for (var tick = 1; tick <= 24; tick++) // 12 minutes of 30-s ticks
        {
            tables.BeforeWrite = tick == 4 ? _ => throw new TaskCanceledException("storage timed out") : null; // the first touch due
            time.Advance(TimeSpan.FromSeconds(30));
            await Task.Delay(30); // real time for the tick the fake clock released
            tables.BeforeWrite = null;
            await timer.Get<BudgetReservations>().ReconcileAsync(CancellationToken.None);
        }

        Assert.Contains("Could not renew", busy.Logs.All, StringComparison.Ordinal); // the failure happened
        Assert.DoesNotContain("not spent", timer.Logs.All, StringComparison.Ordinal);
        var ledger = BudgetReservationsTests.Ledger(busy.Tables);
        var entry = Assert.Single(ledger.Live).Value;
        Assert.Empty(ledger.DeadSlices);
        Assert.Equal(100_000_000, entry.ReservedNanoUsd);
        Assert.True(time.GetUtcNow() - entry.RenewedAt <= BudgetReservations.TouchAfter, $"last renewed at {entry.RenewedAt:T}");
        inFlight!.Settle(5_000_000);
        await reservations.StopAsync(CancellationToken.None);
    }

    /// <summary>
    /// A slice takes reservations for five minutes after its last renewal, then renews first: an instance that was
    /// quiet for a while never reserves in a lease the ledger may by then count as dead.
    /// </summary>
    [Fact]
    public async Task ASliceLastRenewedFiveMinutesAgo_RenewsBeforeItReservesAgain()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var core = new InMemoryCore(tables, time, Settings);
        await core.StartAsync(); // the record path's services, which a new period's seed reads through
        var reservations = core.Get<BudgetReservations>();
        (await reservations.ReserveAsync([Alpha], 1_000_000, CancellationToken.None)).Reservation!.Settle(1_000_000);
        var writes = tables.Requests.Writes;

        time.Advance(TimeSpan.FromMinutes(4));
        (await reservations.ReserveAsync([Alpha], 1_000_000, CancellationToken.None)).Reservation!.Settle(1_000_000);
        Assert.Equal(writes, tables.Requests.Writes); // within the term: no storage request

        time.Advance(TimeSpan.FromMinutes(1));
        (await reservations.ReserveAsync([Alpha], 1_000_000, CancellationToken.None)).Reservation!.Settle(1_000_000);
        Assert.Equal(writes + 1, tables.Requests.Writes);
        var entry = Assert.Single(BudgetReservationsTests.Ledger(core.Tables).Live).Value;
        Assert.Equal((time.GetUtcNow(), 2_000_000), (entry.RenewedAt, entry.SettledNanoUsd));
    }
}
