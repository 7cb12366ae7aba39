using System.Globalization;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Pricing;
using Microsoft.Extensions.Configuration;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// Binds <c>Budgets</c>: the settings <c>TimeZone</c>, <c>Schedule</c>, <c>RefreshSeconds</c>, <c>DailySummary</c>,
/// <c>DefaultMaxOutputTokens</c> and <c>MaxCostPerCallUsd</c>, and every other
/// child as one budget (<c>Budgets__&lt;name&gt;__LimitUsd</c>), as the configuration contract spells it.
/// </summary>
internal static class BudgetsBinder
{
    private static readonly HashSet<string> Settings = new(StringComparer.OrdinalIgnoreCase)
    {
        nameof(BudgetsOptions.TimeZone), nameof(BudgetsOptions.Schedule), nameof(BudgetsOptions.MaxCostPerCallUsd), nameof(BudgetsOptions.Items),
        nameof(BudgetsOptions.DailySummary), nameof(BudgetsOptions.RefreshSeconds), nameof(BudgetsOptions.DefaultMaxOutputTokens),
    };

    public static void Bind(IConfigurationSection section, BudgetsOptions options)
    {
        options.TimeZone = section[nameof(BudgetsOptions.TimeZone)] is { Length: > 0 } tz ? tz : options.TimeZone;
        options.Schedule = section[nameof(BudgetsOptions.Schedule)] is { Length: > 0 } s ? s : options.Schedule;
        options.DailySummary = bool.TryParse(section[nameof(BudgetsOptions.DailySummary)], out var summary) && summary;
        if (section[nameof(BudgetsOptions.RefreshSeconds)] is { Length: > 0 } refresh)
        {
            options.RefreshSeconds = int.TryParse(refresh, NumberStyles.Integer, CultureInfo.InvariantCulture, out var r) ? r : -1;
        }

        if (section[nameof(BudgetsOptions.DefaultMaxOutputTokens)] is { Length: > 0 } cap)
        {
            options.DefaultMaxOutputTokens = long.TryParse(cap, NumberStyles.Integer, CultureInfo.InvariantCulture, out var c) ? c : -1;
        }

        if (section[nameof(BudgetsOptions.MaxCostPerCallUsd)] is { Length: > 0 } max)
        {
            options.MaxCostPerCallUsd = decimal.TryParse(max, NumberStyles.Number, CultureInfo.InvariantCulture, out var m) ? m : -1;
        }

        foreach (var child in section.GetChildren())
        {
            if (Settings.Contains(child.Key))
            {
                continue;
            }

            var budget = new BudgetOptions();
            child.Bind(budget);
            options.Items[child.Key] = budget;
        }

        // Budgets__Items__<name>__* works too, for tools that prefer a nested map.
        foreach (var child in section.GetSection(nameof(BudgetsOptions.Items)).GetChildren())
        {
            var budget = new BudgetOptions();
            child.Bind(budget);
            options.Items[child.Key] = budget;
        }
    }

    /// <summary>
    /// Writes each <c>model:</c> scope with the model's canonical name (<see cref="PriceTable.Canonical"/>), the one a
    /// call's spend is keyed under, so that no spelling of a model escapes its budget.
    /// </summary>
    internal static void CanonicalizeModels(BudgetsOptions options, PriceTable prices)
    {
        foreach (var budget in options.Items.Values)
        {
            if (BudgetScope.TryParse(budget.Scope, out var scope) && scope.Kind == "model")
            {
                budget.Scope = "model:" + prices.Canonical(scope.Value);
            }
        }
    }
}
