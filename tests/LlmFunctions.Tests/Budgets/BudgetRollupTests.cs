using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Records;
using LlmFunctions.Core.Spend;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Budgets;

/// <summary>The rollup and the enforcer over in-memory tables shared by two instances, on a fake clock.</summary>
public sealed class BudgetRollupTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 30, TimeSpan.Zero);

    private static readonly Dictionary<string, string?> Budget = new()
    {
        ["Budgets:cap:LimitUsd"] = "0.002",
        ["Budgets:cap:Scope"] = "client:alpha",
        ["Budgets:cap:Period"] = "day",
        ["Budgets:cap:Action"] = "block",
    };

    [Fact]
    public async Task TwoRollupsOverlapping_TheOneThatComputedEarlier_NeverReplacesNewerFigures()
    {
        await using var core = new InMemoryCore(new InMemoryTables(), new FakeTimeProvider(Noon), Budget);
        var rows = core.Get<RollupRows>();
        var cap = core.Get<ConfiguredBudgets>().Items.Single();
        BudgetStatus Taken(int minute, long spentNanoUsd) =>
            new(cap.Name, cap.Options, cap.Scope, cap.PeriodAt(Noon, TimeZoneInfo.Utc), spentNanoUsd, Noon.AddMinutes(minute), [], []);

        await rows.WriteAsync([Taken(5, 2_000_000)], CancellationToken.None);
        await rows.WriteAsync([Taken(1, 1_000_000)], CancellationToken.None); // the slower instance, finishing last
        Assert.Equal(0.002m, (await rows.ReadCurrentAsync(CancellationToken.None))["cap"].SpentUsd);

        await rows.WriteAsync([Taken(6, 3_000_000)], CancellationToken.None);
        Assert.Equal((0.003m, Noon.AddMinutes(6)), (await rows.ReadCurrentAsync(CancellationToken.None))["cap"] is var r ? (r.SpentUsd, r.UpdatedAt) : default);
    }

    [Fact]
    public async Task AShadowBudget_AllowsButNamesItself_AndEachCallLearnsTheTightestRemainingBudgetThatAppliesToIt()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tables, time, new()
        {
            ["Budgets:cap:LimitUsd"] = "0.010",
            ["Budgets:cap:Scope"] = "client:alpha",
            ["Budgets:cap:Action"] = "block",
            ["Budgets:watch:LimitUsd"] = "0.002",
            ["Budgets:watch:Scope"] = "model:gpt-4o-mini",
            ["Budgets:watch:Action"] = "shadow",
        });
        await a.StartAsync();
        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => a.Get<RecordWriter>().WriteAsync(InMemoryCore.Record(Noon, "alpha", costNanoUsd: 1_000_000))));
        time.Advance(TimeSpan.FromMinutes(3));
        await a.Get<BudgetRollup>().RunAsync(CancellationToken.None);
        var enforcer = a.Get<BudgetEnforcer>();
        await enforcer.RefreshAsync();

        var mini = enforcer.Check(new SpendKey("alpha", "gpt-4o-mini"), new CallSize(() => 10, 10, 10));
        Assert.Equal(BudgetVerdict.Allow, mini.Verdict);
        Assert.Equal("watch", mini.ShadowBlocked);
        Assert.Equal(0m, mini.RemainingUsd);

        var other = enforcer.Check(new SpendKey("alpha", "gpt-4.1"), new CallSize(() => 10, 10, 10));
        Assert.Equal(BudgetVerdict.Allow, other.Verdict);
        Assert.Null(other.ShadowBlocked);
        Assert.Equal(0.007m, other.RemainingUsd);

        Assert.Null(enforcer.Check(new SpendKey("beta", "gpt-4.1"), new CallSize(() => 10, 10, 10)).RemainingUsd); // no budget applies: no figure, never +Inf
    }

    [Fact]
    public async Task TagAndUserBudgets_CountOnlyTheirCalls_FoldedOrNot_AndBlockOnlyThem()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tables, time, new()
        {
            ["Budgets:team:LimitUsd"] = "0.003",
            ["Budgets:team:Scope"] = "tag:team-a",
            ["Budgets:team:Action"] = "block",
            ["Budgets:one-user:LimitUsd"] = "0.002",
            ["Budgets:one-user:Scope"] = "user:u-1",
            ["Budgets:one-user:Action"] = "block",
        });
        await a.StartAsync();
        var writer = a.Get<RecordWriter>();
        CallRecord Tagged(string tags, string user)
        {
            var r = InMemoryCore.Record(Noon, costNanoUsd: 1_000_000);
            (r.Tags, r.EndUser) = (tags, user);
            return r;
        }

        // $0.002 tagged team-a (one of them also batch, for user u-1), $0.005 tagged otherwise or not at all.
        await writer.WriteAsync(Tagged("batch,team-a", "u-1"));
        await writer.WriteAsync(Tagged("team-a", ""));
        await writer.WriteAsync(Tagged("team-b", "u-2"));
        await writer.WriteAsync(Tagged("", "u-1"));
        foreach (var _ in Enumerable.Range(0, 3))
        {
            await writer.WriteAsync(Tagged("", ""));
        }

        var rollup = a.Get<BudgetRollup>();
        var tail = await a.Get<BudgetSpend>().ComputeAsync(CancellationToken.None);
        time.Advance(TimeSpan.FromMinutes(3));
        var folded = await rollup.RunAsync(CancellationToken.None);

        foreach (var statuses in new[] { tail, folded })
        {
            Assert.Equal(2_000_000, statuses.Single(s => s.Name == "team").SpentNanoUsd);
            Assert.Equal(2_000_000, statuses.Single(s => s.Name == "one-user").SpentNanoUsd);
        }

        await writer.WriteAsync(Tagged("team-a", ""));
        time.Advance(TimeSpan.FromSeconds(10));
        var enforcer = a.Get<BudgetEnforcer>();
        await enforcer.RefreshAsync();
        Assert.Equal(BudgetVerdict.Block, enforcer.Check(new SpendKey("alpha", "gpt-4o-mini", "", "batch,team-a"), new CallSize(() => 10, 10, 10)).Verdict);
        Assert.Equal(BudgetVerdict.Block, enforcer.Check(new SpendKey("alpha", "gpt-4o-mini", "u-1", ""), new CallSize(() => 10, 10, 10)).Verdict);
        var other = enforcer.Check(new SpendKey("alpha", "gpt-4o-mini", "u-2", "team-b"), new CallSize(() => 10, 10, 10));
        Assert.Equal(BudgetVerdict.Allow, other.Verdict);
        Assert.Null(other.RemainingUsd);
    }

    /// <summary>
    /// Issue 27 (1): one time basis, the minute a record is written. A call started before midnight and written after
    /// it counts in the new day and never in the old one: at the enforcer (this instance's spend since the old day's
    /// rollup), in the rollup and the spend report, unfolded and folded; a call written before midnight stays in the old day.
    /// </summary>
    [Fact]
    public async Task ACallStartedBeforeMidnightAndWrittenAfterIt_CountsInTheNewDayOnly_FoldedOrNot_ForBudgetsAndTheSpendReport()
    {
        var midnight = new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero);
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(midnight.AddSeconds(-20));
        await using var a = new InMemoryCore(tables, time, new()
        {
            ["Budgets:cap:LimitUsd"] = "1",
            ["Budgets:cap:Scope"] = "client:alpha",
            ["Budgets:cap:Period"] = "day",
            ["Budgets:cap:Action"] = "block",
        });
        await a.StartAsync();
        var writer = a.Get<RecordWriter>();
        var rollup = a.Get<BudgetRollup>();
        var enforcer = a.Get<BudgetEnforcer>();
        var report = a.Get<SpendReport>();
        var byDay = new SpendQuery(new DateOnly(2026, 11, 28), new DateOnly(2026, 11, 29), SpendGrouping.Day,
            new SpendFilter(null, null, null, null), Csv: false, Limit: 100, After: null);
        decimal? Remaining() => enforcer.Check(new SpendKey("alpha", "gpt-4o-mini"), new CallSize(() => 10, 10, 10)).RemainingUsd;

        await writer.WriteAsync(InMemoryCore.Record(midnight.AddSeconds(-40), "alpha", costNanoUsd: 1_000_000)); // the 28th's
        time.Advance(TimeSpan.FromSeconds(5)); // past the tail's publishing delay, so the rollup's stamp is after the write
        await rollup.RunAsync(CancellationToken.None);
        await enforcer.RefreshAsync();
        Assert.Equal(0.999m, Remaining());

        time.Advance(TimeSpan.FromSeconds(20));
        await writer.WriteAsync(InMemoryCore.Record(midnight.AddSeconds(-10), "alpha", costNanoUsd: 20_000_000)); // started 23:59:50, written 00:00:05
        Assert.True(0.98m == Remaining(), "enforcer, before the day's first rollup");

        time.Advance(TimeSpan.FromSeconds(5));
        async Task AssertNewDayOnlyAsync(string when)
        {
            Assert.True(20_000_000 == (await rollup.RunAsync(CancellationToken.None)).Single().SpentNanoUsd, $"rollup, {when}");
            await enforcer.RefreshAsync();
            Assert.True(0.98m == Remaining(), $"enforcer, {when}");
            var days = (await report.RunAsync(byDay, CancellationToken.None)).Rows.Select(r => $"{r.Period} {r.Sums.CostNanoUsd}");
            Assert.Equal(["2026-11-28 1000000", "2026-11-29 20000000"], days);
        }

        await AssertNewDayOnlyAsync("unfolded");
        Assert.Equal(0, (await a.Get<AggregateReader>().LoadAsync(CancellationToken.None)).State?.FoldedRecords ?? 0);
        time.Advance(a.Get<AggregateFolder>().Lag + TimeSpan.FromMinutes(1));
        await AssertNewDayOnlyAsync("folded");
        Assert.Equal(2, (await a.Get<AggregateReader>().LoadAsync(CancellationToken.None)).State!.FoldedRecords);
    }

    [Fact]
    public async Task ARollupOnOneInstance_BlocksTheClientOnAnother_AndClaimsEachThresholdOnce()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tables, time, Budget);
        await using var b = new InMemoryCore(tables, time, Budget);
        await a.StartAsync();
        await b.StartAsync();

        var enforcerB = b.Get<BudgetEnforcer>();
        await enforcerB.RefreshAsync();
        Assert.Equal(BudgetVerdict.Allow, enforcerB.Check(new SpendKey("alpha", "gpt-4o-mini"), new CallSize(() => 10, 10, 10)).Verdict);

        // $0.003 of alpha's calls on instance A, and some of beta's that the budget does not cover.
        var writer = a.Get<RecordWriter>();
        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => writer.WriteAsync(InMemoryCore.Record(Noon, "alpha", costNanoUsd: 1_000_000))));
        await writer.WriteAsync(InMemoryCore.Record(Noon, "beta", costNanoUsd: 5_000_000));
        time.Advance(TimeSpan.FromMinutes(3));

        var statuses = await a.Get<BudgetRollup>().RunAsync(CancellationToken.None);
        var cap = Assert.Single(statuses);
        Assert.Equal(3_000_000, cap.SpentNanoUsd);
        var current = await b.Get<RollupRows>().ReadCurrentAsync(CancellationToken.None);
        Assert.Equal(0.003m, current["cap"].SpentUsd);

        await enforcerB.RefreshAsync();
        var decision = enforcerB.Check(new SpendKey("alpha", "gpt-4o-mini"), new CallSize(() => 10, 10, 10));
        Assert.Equal(BudgetVerdict.Block, decision.Verdict);
        Assert.Contains("Budget 'cap'", decision.Message, StringComparison.Ordinal);
        Assert.Equal(BudgetVerdict.Allow, enforcerB.Check(new SpendKey("beta", "gpt-4o-mini"), new CallSize(() => 10, 10, 10)).Verdict);

        // Each threshold crossed is one event, whichever instances run the rollup and how often.
        var events = tables.Entities(TableNames.BudgetEvents).Count;
        Assert.True(events > 0);
        await b.Get<BudgetRollup>().RunAsync(CancellationToken.None);
        await a.Get<BudgetRollup>().RunAsync(CancellationToken.None);
        Assert.Equal(events, tables.Entities(TableNames.BudgetEvents).Count);
    }

    [Fact]
    public async Task AYearOfHistory_DoesNotMakeTheCurrentRowsOrThePendingWebhooksCostMore()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tables, time, Budget);
        await a.StartAsync();
        var rollup = a.Get<BudgetRollup>();
        await rollup.RunAsync(CancellationToken.None);
        await a.Get<TableStore>().EnsureTablesAsync();

        async Task<long> ScannedByARefreshAndARunAsync()
        {
            var before = tables.ScannedRows;
            await a.Get<RollupRows>().ReadCurrentAsync(CancellationToken.None);
            var afterRefresh = tables.ScannedRows;
            await rollup.RunAsync(CancellationToken.None);
            return (afterRefresh - before) + (tables.ScannedRows - afterRefresh);
        }

        var fresh = await ScannedByARefreshAndARunAsync();

        // A year of rollup rows and of delivered notifications for the budget, as a year of running leaves them.
        var day = Noon.AddDays(-400);
        for (var i = 0; i < 365; i++, day = day.AddDays(1))
        {
            var key = day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
            await tables.Table("LlmRollups").UpsertAsync(new Azure.Data.Tables.TableEntity("cap", "day-" + key) { ["SpentNanoUsd"] = 1L }, default);
            foreach (var threshold in new[] { "0050", "0080", "0100" })
            {
                await tables.Table("LlmBudgetEvents").UpsertAsync(
                    new Azure.Data.Tables.TableEntity("cap", $"day-{key}-{threshold}") { ["Status"] = "delivered" }, default);
            }
        }

        var withHistory = await ScannedByARefreshAndARunAsync();

        Assert.True(withHistory <= fresh + 2, $"a year of rows: {withHistory} rows read, {fresh} without history");
    }

    /// <summary>Issue 30 (2): a budget added mid-day (a restart with a new setting) starts from the day's recorded spend,
    /// plain or reserved, before any rollup has written a row for it; the call's header and /spend/me agree.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ABudgetAddedMidDay_StartsFromTheDaysRecordedSpend_BeforeAnyRollupWroteItsRow(bool reserve)
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using (var before = new InMemoryCore(tables, time))
        {
            await before.StartAsync();
            await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => before.Get<RecordWriter>().WriteAsync(InMemoryCore.Record(Noon, "alpha", costNanoUsd: 1_000_000))));
        }

        time.Advance(TimeSpan.FromMinutes(20)); // the first calls are folded by now or still in the tail: both count
        await using var after = new InMemoryCore(tables, time, new(Budget) { ["Budgets:cap:Reserve"] = reserve ? "true" : "false" });
        await after.StartAsync();
        var enforcer = after.Get<BudgetEnforcer>();
        await enforcer.RefreshAsync();

        var decision = await enforcer.CheckAsync(new SpendKey("alpha", "gpt-4o-mini"), new CallSize(() => 10, 10, 10), CancellationToken.None);

        Assert.Equal(BudgetVerdict.Block, decision.Verdict);
        Assert.Equal(0m, decision.RemainingUsd);
        var standing = Assert.Single(await after.Get<BudgetSpend>().ComputeAsync(CancellationToken.None));
        Assert.Equal(0.003m, standing.SpentUsd); // what /spend/me reports
        Assert.Equal(BudgetVerdict.Allow, (await enforcer.CheckAsync(new SpendKey("beta", "gpt-4o-mini"), new CallSize(() => 10, 10, 10),
            CancellationToken.None)).Verdict);
        if (reserve)
        {
            // The ledger itself starts from the day's spend (its own check, whatever the rollup figures say).
            var (_, refusedBy, _) = await after.Get<BudgetReservations>().ReserveAsync([new SpendKey("alpha", "gpt-4o-mini")], 1_000, CancellationToken.None);
            Assert.Equal("cap", refusedBy);
        }
    }

    /// <summary>Issue 30 (6): with no webhook configured, a crossed threshold is recorded, and the log no longer says it was delivered.</summary>
    [Fact]
    public async Task ACrossedThresholdWithNoWebhook_IsLoggedAsRecordedOnly_NotDelivered()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tables, time, new(Budget) { ["Budgets:cap:Thresholds"] = "50" });
        await a.StartAsync();
        await a.Get<RecordWriter>().WriteAsync(InMemoryCore.Record(Noon, "alpha", costNanoUsd: 1_500_000));
        time.Advance(TimeSpan.FromMinutes(3));

        await a.Get<BudgetRollup>().RunAsync(CancellationToken.None);

        Assert.Contains("cap 50% notification: recorded only, no webhook is configured", a.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain("notification: delivered", a.Logs.All, StringComparison.Ordinal);
    }
}
