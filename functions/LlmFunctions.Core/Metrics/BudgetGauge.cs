namespace LlmFunctions.Core.Metrics;

/// <summary>One budget's state for the exposition.</summary>
internal sealed record BudgetGauge(string Budget, string Scope, string Period, double SpentUsd, double LimitUsd, double PeriodRemainingSeconds);

/// <summary>Supplies budget gauges to the metrics endpoint (implemented by the budget rollup).</summary>
internal interface IBudgetGaugeSource
{
    Task<IReadOnlyList<BudgetGauge>> GetAsync(CancellationToken cancellationToken);
}
