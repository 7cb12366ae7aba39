using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Budgets;

namespace LlmFunctions.Tests.Budgets;

public sealed class SpendBreakdownTests
{
    /// <summary>A mistyped model the upstream refused cost nothing: it is not one of a notification's top models or clients.</summary>
    [Fact]
    public void KeysThatSpentNothing_AreNotInTheTopLists()
    {
        Assert.True(BudgetScope.TryParse("global", out var scope));
        var spend = new Dictionary<SpendKey, long> { [new("local", "gpt-4.1")] = 1_344_000, [new("local", "gtp-4.1")] = 0, [new("idle", "gpt-4.1")] = 0 };

        var breakdown = SpendBreakdown.Of(spend, scope, top: 3);

        Assert.Equal(1_344_000, breakdown.TotalNanoUsd);
        Assert.Equal(["gpt-4.1"], breakdown.TopModels.Select(m => m.Key));
        Assert.Equal(["local"], breakdown.TopClients.Select(c => c.Key));
    }
}
