using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// Each budget's spend in its current period, as a view of the aggregates: the folded 15-minute slots from the period's
/// start plus the tail, in one consistent read (<see cref="AggregateReader.ReadFoldedAsync"/>), all by write minute.
/// </summary>
internal sealed class BudgetSpend(AggregateReader aggregates, ConfiguredBudgets budgets, TimeProvider time)
{
    /// <summary>Spend per budget for its current period.</summary>
    public async Task<IReadOnlyList<BudgetStatus>> ComputeAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var periods = budgets.Items.ToDictionary(b => b.Name, b => b.PeriodAt(now, budgets.Zone), StringComparer.OrdinalIgnoreCase);

        if (periods.Count == 0)
        {
            return [];
        }

        // One read of the slots from the earliest period start, with the tail that starts where they end; each slot
        // counts for every period that started in or before it.
        var spendSince = periods.Values.Select(p => p.Start).Distinct().ToDictionary(
            start => start, start => (FirstSlot: RecordKeys.ParseMinute(SlotRow.SlotOf(start)), Spend: new Dictionary<SpendKey, long>()));
        var snapshot = await aggregates.ReadFoldedAsync(spendSince.Keys.Min(), now.AddMinutes(15), (slot, usage) =>
        {
            foreach (var (firstSlot, spend) in spendSince.Values)
            {
                if (slot >= firstSlot)
                {
                    UsageSums.AddCosts(spend, usage);
                }
            }
        }, cancellationToken).ConfigureAwait(false);
        foreach (var (start, (_, spend)) in spendSince)
        {
            snapshot.AddTailSpendSince(start, spend);
        }

        var result = new List<BudgetStatus>(budgets.Items.Count);
        foreach (var b in budgets.Items)
        {
            var period = periods[b.Name];
            var spend = spendSince[period.Start].Spend;

            // Stamped when the tail read began: a record durable after it counts at the enforcer, not twice.
            var breakdown = SpendBreakdown.Of(spend, b.Scope, top: 3);
            result.Add(new BudgetStatus(b.Name, b.Options, b.Scope, period, breakdown.TotalNanoUsd, snapshot.TailReadAt,
                breakdown.TopModels, breakdown.TopClients));
        }

        return result;
    }
}
