using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Pricing;

namespace LlmFunctions.Core.Budgets;

/// <summary>Spend in a scope from per <see cref="SpendKey"/> sums: the total and the biggest models and clients.</summary>
internal sealed record SpendBreakdown(
    long TotalNanoUsd, IReadOnlyList<KeyValuePair<string, long>> TopModels, IReadOnlyList<KeyValuePair<string, long>> TopClients)
{
    public static SpendBreakdown Of(IReadOnlyDictionary<SpendKey, long> spend, BudgetScope scope, int top)
    {
        long total = 0;
        var models = new Dictionary<string, long>(StringComparer.Ordinal);
        var clients = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (key, nano) in spend)
        {
            if (!scope.Matches(key))
            {
                continue;
            }

            total += nano;
            models[key.Model] = models.GetValueOrDefault(key.Model) + nano;
            clients[key.Client] = clients.GetValueOrDefault(key.Client) + nano;
        }

        // Only what spent: failed calls (a mistyped model, refused upstream) cost nothing and are no "top" anything.
        return new SpendBreakdown(total, [.. models.Where(m => m.Value > 0).OrderByDescending(m => m.Value).Take(top)],
            [.. clients.Where(c => c.Value > 0).OrderByDescending(c => c.Value).Take(top)]);
    }

    /// <summary>A top list in USD, for messages.</summary>
    public static List<KeyValuePair<string, decimal>> Usd(IEnumerable<KeyValuePair<string, long>> items) =>
        [.. items.Select(i => KeyValuePair.Create(i.Key, CostCalculator.ToUsd(i.Value)))];
}
