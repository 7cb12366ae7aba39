using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Pricing;

namespace LlmFunctions.Core.Budgets;

/// <summary>A budget's spend in its current period, as the rollup computed it.</summary>
internal sealed record BudgetStatus(
    string Name, BudgetOptions Options, BudgetScope Scope, BudgetPeriod Period, long SpentNanoUsd, DateTimeOffset UpdatedAt,
    IReadOnlyList<KeyValuePair<string, long>> TopModels, IReadOnlyList<KeyValuePair<string, long>> TopClients)
{
    public decimal SpentUsd => CostCalculator.ToUsd(SpentNanoUsd);

    public decimal Percent => Options.LimitUsd <= 0 ? 0 : decimal.Round(SpentUsd / Options.LimitUsd * 100m, 2);
}
