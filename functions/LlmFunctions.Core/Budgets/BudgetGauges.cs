using LlmFunctions.Core.Metrics;

namespace LlmFunctions.Core.Budgets;

/// <summary>Budget gauges for <c>/metrics</c>, from the rollup rows (no record scan).</summary>
internal sealed class BudgetGauges(RollupRows rows, ConfiguredBudgets budgets, TimeProvider time) : IBudgetGaugeSource
{
    public async Task<IReadOnlyList<BudgetGauge>> GetAsync(CancellationToken cancellationToken)
    {
        if (budgets.Items.Count == 0)
        {
            return [];
        }

        var now = time.GetUtcNow();
        var current = await rows.ReadCurrentAsync(cancellationToken).ConfigureAwait(false);
        var gauges = new List<BudgetGauge>(budgets.Items.Count);
        foreach (var b in budgets.Items)
        {
            var period = b.PeriodAt(now, budgets.Zone);
            var spent = current.TryGetValue(b.Name, out var row) && row.PeriodKey == period.Key ? row.SpentUsd : 0;
            gauges.Add(new BudgetGauge(b.Name, b.Options.Scope, period.Kind, (double)spent, (double)b.Options.LimitUsd, (period.End - now).TotalSeconds));
        }

        return gauges;
    }
}
