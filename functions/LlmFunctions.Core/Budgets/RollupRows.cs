using Azure;
using Azure.Data.Tables;
using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// Table <c>LlmRollups</c>: one row per budget and period (history) in the budget's partition, and every budget's
/// latest row in one partition (<see cref="RollupRow.CurrentPartition"/>), which the enforcer, the reservations and
/// <c>/metrics</c> read in one query: a page per 1,000 budgets, not a read per budget.
/// </summary>
internal sealed class RollupRows(TableStore store, ConfiguredBudgets budgets)
{
    /// <summary>Table Storage's limit of actions in one entity-group transaction.</summary>
    private const int MaxBatch = 100;

    /// <summary>
    /// Writes each budget's history row (one request per budget, as each has its own partition), then the latest rows,
    /// a hundred to a transaction. History first: a reader that sees a latest row finds its period's row too. A latest
    /// row is never replaced by older figures: two instances' rollups may overlap, and the slower one may have computed
    /// first. Each is written on the ETag it was read with; a transaction another instance got to first is read again.
    /// </summary>
    public async Task WriteAsync(IReadOnlyList<BudgetStatus> statuses, CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        foreach (var s in statuses)
        {
            await store.Rollups.UpsertAsync(RollupRow.History(s).ToEntity(), cancellationToken).ConfigureAwait(false);
        }

        for (var attempt = 1; ; attempt++)
        {
            var stored = await ReadStoredAsync(cancellationToken).ConfigureAwait(false);
            var actions = statuses
                .Where(s => !stored.TryGetValue(s.Name, out var held) || held.UpdatedAt <= s.UpdatedAt)
                .Select(s => stored.TryGetValue(s.Name, out var held)
                    ? new TableTransactionAction(TableTransactionActionType.UpdateReplace, RollupRow.Current(s).ToEntity(), held.ETag)
                    : new TableTransactionAction(TableTransactionActionType.Add, RollupRow.Current(s).ToEntity()));
            try
            {
                foreach (var chunk in actions.Chunk(MaxBatch))
                {
                    await store.Rollups.SubmitAsync(chunk, cancellationToken).ConfigureAwait(false);
                }

                return;
            }
            catch (TableTransactionFailedException ex) when (ex.Status is 409 or 412 && attempt < MaxAttempts)
            {
                // Another instance wrote some of these rows since they were read: read them again.
            }
        }
    }

    private const int MaxAttempts = 5;

    /// <summary>Every latest row as stored: its budget's name, when its figures were taken, and its ETag.</summary>
    private async Task<Dictionary<string, (DateTimeOffset UpdatedAt, ETag ETag)>> ReadStoredAsync(CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var stored = new Dictionary<string, (DateTimeOffset, ETag)>(StringComparer.Ordinal); // keys as stored: RowKeys are case-sensitive
        // A key not selected is not returned.
        var query = new TableQuery { PartitionKey = RollupRow.CurrentPartition, Select = ["RowKey", nameof(RollupRow.UpdatedAt)] };
        await foreach (var entity in store.Rollups.QueryAsync(query, cancellationToken).ConfigureAwait(false))
        {
            stored[entity.RowKey] = (entity.GetDateTimeOffset(nameof(RollupRow.UpdatedAt)) ?? default, entity.ETag);
        }

        return stored;
    }

    /// <summary>The latest row of each configured budget, by name: one query of one partition.</summary>
    public async Task<Dictionary<string, (string PeriodKey, decimal SpentUsd, DateTimeOffset UpdatedAt)>> ReadCurrentAsync(
        CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, (string, decimal, DateTimeOffset)>(StringComparer.OrdinalIgnoreCase);
        if (budgets.Items.Count == 0)
        {
            return result;
        }

        var names = budgets.Items.Select(b => b.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var query = new TableQuery { PartitionKey = RollupRow.CurrentPartition };
        await foreach (var entity in store.Rollups.QueryAsync(query, cancellationToken).ConfigureAwait(false))
        {
            var row = RollupRow.FromEntity(entity);
            // A budget renamed in case only (configuration keys ignore it) may have a row under each spelling: the newer counts.
            if (names.Contains(row.RowKey) && !(result.TryGetValue(row.RowKey, out var seen) && seen.Item3 > row.UpdatedAt))
            {
                result[row.RowKey] = (row.PeriodKey, CostCalculator.ToUsd(row.SpentNanoUsd), row.UpdatedAt);
            }
        }

        return result;
    }
}
