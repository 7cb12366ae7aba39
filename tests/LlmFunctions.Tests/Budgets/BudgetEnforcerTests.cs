using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Records;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Budgets;

/// <summary>The enforcer's verdicts on their own (issue 32, item 9): which budget wins, over in-memory tables on the fake clock.</summary>
public sealed class BudgetEnforcerTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 30, TimeSpan.Zero);
    private static readonly CallSize Small = new(() => 10, 10, 10);

    /// <summary>$0.003 of alpha's gpt-4.1 spend, rolled up; then the enforcer judges calls.</summary>
    private static async Task<(InMemoryCore Core, BudgetEnforcer Enforcer)> SpentAsync(Dictionary<string, string?> budgets)
    {
        var core = new InMemoryCore(new InMemoryTables(), new FakeTimeProvider(Noon), budgets);
        await core.StartAsync();
        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => core.Get<RecordWriter>().WriteAsync(
            InMemoryCore.Record(Noon, "alpha", model: "gpt-4.1", costNanoUsd: 1_000_000))));
        core.Time.Advance(TimeSpan.FromMinutes(3));
        await core.Get<BudgetRollup>().RunAsync(CancellationToken.None);
        var enforcer = core.Get<BudgetEnforcer>();
        await enforcer.RefreshAsync();
        return (core, enforcer);
    }

    [Fact]
    public async Task AnExhaustedBlockBudget_WinsOverADowngrade_AndSaysWhenItResets()
    {
        var (core, enforcer) = await SpentAsync(new()
        {
            ["Budgets:cheaper:LimitUsd"] = "0.001", ["Budgets:cheaper:Scope"] = "model:gpt-4.1", ["Budgets:cheaper:Action"] = "downgrade",
            ["Budgets:cheaper:DowngradeTo"] = "gpt-4.1-mini",
            ["Budgets:hard:LimitUsd"] = "0.002", ["Budgets:hard:Scope"] = "client:alpha", ["Budgets:hard:Action"] = "block",
        });
        await using var _ = core;

        var decision = enforcer.Check(new SpendKey("alpha", "gpt-4.1"), Small);

        Assert.Equal(BudgetVerdict.Block, decision.Verdict);
        Assert.Contains("'hard'", decision.Message, StringComparison.Ordinal);
        Assert.Equal(new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero), decision.ResetsAt);
        Assert.Equal(BudgetVerdict.Downgrade, enforcer.Check(new SpendKey("beta", "gpt-4.1"), Small).Verdict); // beta: only the downgrade applies
    }

    [Fact]
    public async Task ADowngrade_NamesItsModel_AndNeverDowngradesACallAlreadyOnIt()
    {
        var (core, enforcer) = await SpentAsync(new()
        {
            ["Budgets:cheaper:LimitUsd"] = "0.001", ["Budgets:cheaper:Scope"] = "client:alpha", ["Budgets:cheaper:Action"] = "downgrade",
            ["Budgets:cheaper:DowngradeTo"] = "gpt-4.1-mini",
        });
        await using var _ = core;

        var downgraded = enforcer.Check(new SpendKey("alpha", "gpt-4.1"), Small);
        Assert.Equal((BudgetVerdict.Downgrade, "gpt-4.1-mini"), (downgraded.Verdict, downgraded.DowngradeTo));
        Assert.Equal(0m, downgraded.RemainingUsd);
        Assert.Equal(BudgetVerdict.Allow, enforcer.Check(new SpendKey("alpha", "gpt-4.1-mini"), Small).Verdict);
    }

    [Fact]
    public async Task ACallWhoseWorstCaseExceedsTheCap_IsTooExpensive_BeforeAnyBudget()
    {
        var (core, enforcer) = await SpentAsync(new()
        {
            ["Budgets:MaxCostPerCallUsd"] = "0.01",
            ["Budgets:hard:LimitUsd"] = "0.002", ["Budgets:hard:Scope"] = "client:alpha", ["Budgets:hard:Action"] = "block",
        });
        await using var _ = core;

        // 2,000 output tokens of gpt-4.1 are $0.016 at most: over the $0.01 cap, whatever the budgets say.
        var decision = enforcer.Check(new SpendKey("beta", "gpt-4.1"), new CallSize(() => 10, 10, 2_000));

        Assert.Equal(BudgetVerdict.TooExpensive, decision.Verdict);
        Assert.Contains("Budgets__MaxCostPerCallUsd", decision.Message, StringComparison.Ordinal);
    }
}
