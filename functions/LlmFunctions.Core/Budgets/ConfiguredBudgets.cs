using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Pricing;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Budgets;

/// <summary>One budget as configured (<c>Budgets__&lt;name&gt;__*</c>), its scope parsed.</summary>
internal sealed record Budget(string Name, BudgetOptions Options, BudgetScope Scope)
{
    public long LimitNanoUsd { get; } = (long)(Options.LimitUsd * CostCalculator.NanoPerUsd);

    /// <summary>The period the budget counts at <paramref name="now"/>, in <paramref name="zone"/>.</summary>
    public BudgetPeriod PeriodAt(DateTimeOffset now, TimeZoneInfo zone) => BudgetPeriod.Current(Options.Period, zone, now);
}

/// <summary>
/// The budgets, parsed once at start for everything that reads them (the rollup, the enforcer, the reservations, the
/// gauges, and the aggregates' key bound through <see cref="Scopes"/>), with the zone their days and months are cut in.
/// A budget whose scope does not parse is refused at start (<see cref="BudgetsValidator"/>), so none is left out here.
/// </summary>
internal sealed class ConfiguredBudgets
{
    public ConfiguredBudgets(IOptions<BudgetsOptions> options)
    {
        Zone = options.Value.Zone;
        Items = [.. options.Value.Items
            .Select(p => BudgetScope.TryParse(p.Value.Scope, out var scope) ? new Budget(p.Key, p.Value, scope) : null)
            .OfType<Budget>()];
    }

    public IReadOnlyList<Budget> Items { get; }

    public TimeZoneInfo Zone { get; }

    public IEnumerable<BudgetScope> Scopes => Items.Select(b => b.Scope);
}
