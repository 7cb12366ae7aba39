using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Proxy;
using LlmFunctions.Core.Records;
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

        var mini = enforcer.Check("alpha", "gpt-4o-mini", () => 10, 10);
        Assert.Equal(BudgetVerdict.Allow, mini.Verdict);
        Assert.Equal("watch", mini.ShadowBlocked);
        Assert.Equal(0m, mini.RemainingUsd);

        var other = enforcer.Check("alpha", "gpt-4.1", () => 10, 10);
        Assert.Equal(BudgetVerdict.Allow, other.Verdict);
        Assert.Null(other.ShadowBlocked);
        Assert.Equal(0.007m, other.RemainingUsd);

        Assert.Null(enforcer.Check("beta", "gpt-4.1", () => 10, 10).RemainingUsd); // no budget applies: no figure, never +Inf
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
        Assert.Equal(BudgetVerdict.Allow, enforcerB.Check("alpha", "gpt-4o-mini", () => 10, 10).Verdict);

        // $0.003 of alpha's calls on instance A, and some of beta's that the budget does not cover.
        var writer = a.Get<RecordWriter>();
        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => writer.WriteAsync(InMemoryCore.Record(Noon, "alpha", costNanoUsd: 1_000_000))));
        await writer.WriteAsync(InMemoryCore.Record(Noon, "beta", costNanoUsd: 5_000_000));
        time.Advance(TimeSpan.FromMinutes(3));

        var statuses = await a.Get<BudgetRollup>().RunAsync(CancellationToken.None);
        var cap = Assert.Single(statuses);
        Assert.Equal(3_000_000, cap.SpentNanoUsd);
        var current = await b.Get<BudgetRollup>().ReadCurrentAsync(CancellationToken.None);
        Assert.Equal(0.003m, current["cap"].SpentUsd);

        await enforcerB.RefreshAsync();
        var decision = enforcerB.Check("alpha", "gpt-4o-mini", () => 10, 10);
        Assert.Equal(BudgetVerdict.Block, decision.Verdict);
        Assert.Contains("Budget 'cap'", decision.Message, StringComparison.Ordinal);
        Assert.Equal(BudgetVerdict.Allow, enforcerB.Check("beta", "gpt-4o-mini", () => 10, 10).Verdict);

        // Each threshold crossed is one event, whichever instances run the rollup and how often.
        var events = tables.Entities(TableNames.BudgetEvents).Count;
        Assert.True(events > 0);
        await b.Get<BudgetRollup>().RunAsync(CancellationToken.None);
        await a.Get<BudgetRollup>().RunAsync(CancellationToken.None);
        Assert.Equal(events, tables.Entities(TableNames.BudgetEvents).Count);
    }
}
