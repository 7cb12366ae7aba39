using Azure.Data.Tables;
using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// Table <c>LlmRollups</c>: one row per budget and period (history) and the budget's <c>current</c> row, which the
/// enforcer, the reservations and <c>/metrics</c> read with one point read per budget.
/// </summary>
internal sealed class RollupRows(TableStore store, ConfiguredBudgets budgets)
{
    public async Task WriteAsync(BudgetStatus s, CancellationToken cancellationToken)
    {
        await store.Rollups.SubmitAsync(
        [
            new TableTransactionAction(TableTransactionActionType.UpsertReplace, RollupRow.From(s, $"{s.Period.Kind}-{s.Period.Key}").ToEntity()),
            new TableTransactionAction(TableTransactionActionType.UpsertReplace, RollupRow.From(s, RollupRow.CurrentRowKey).ToEntity()),
        ], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The latest rollup row of each configured budget (<c>RowKey = current</c>): one point read per budget, so the cost
    /// of every refresh and scrape does not grow with the rows history leaves in the table.
    /// </summary>
    public async Task<Dictionary<string, (string PeriodKey, decimal SpentUsd, DateTimeOffset UpdatedAt)>> ReadCurrentAsync(
        CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var reads = budgets.Items.Select(b => store.Rollups.GetAsync(b.Name, RollupRow.CurrentRowKey, select: null, cancellationToken)).ToList();
        var result = new Dictionary<string, (string, decimal, DateTimeOffset)>(StringComparer.OrdinalIgnoreCase);
        foreach (var entity in await Task.WhenAll(reads).ConfigureAwait(false))
        {
            if (entity is not null)
            {
                var row = RollupRow.FromEntity(entity);
                result[row.PartitionKey] = (row.PeriodKey, CostCalculator.ToUsd(row.SpentNanoUsd), row.UpdatedAt);
            }
        }

        return result;
    }
}
