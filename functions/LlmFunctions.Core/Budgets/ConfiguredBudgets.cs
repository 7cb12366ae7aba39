using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Keys;
using LlmFunctions.Core.Pricing;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Budgets;

/// <summary>One budget as configured (<c>Budgets__&lt;name&gt;__*</c>) or set on a virtual key, its scope parsed.</summary>
internal sealed record Budget(string Name, BudgetOptions Options, BudgetScope Scope)
{
    public long LimitNanoUsd { get; } = (long)(Options.LimitUsd * CostCalculator.NanoPerUsd);

    /// <summary>The period the budget counts at <paramref name="now"/>, in <paramref name="zone"/>.</summary>
    public BudgetPeriod PeriodAt(DateTimeOffset now, TimeZoneInfo zone) => BudgetPeriod.Current(Options.Period, zone, now);

    /// <summary>The budget a virtual key carries: <c>key:&lt;id&gt;</c>, scoped to the key's client name.</summary>
    public static Budget Of(VirtualKey key, KeyBudget b) => new("key:" + key.Id, new BudgetOptions
    {
        Scope = "client:" + key.Name,
        Period = b.Period,
        LimitUsd = b.LimitUsd,
        Action = b.Action,
        Reserve = b.Reserve,
    }, new BudgetScope("client", key.Name));
}

/// <summary>The budgets at one moment, and the keys' version they were built from: readers rebuild what they derive on a new one.</summary>
internal sealed record BudgetSet(long Version, IReadOnlyList<Budget> Items);

/// <summary>
/// The budgets, for everything that reads them (the rollup, the enforcer, the reservations, the gauges, and the
/// aggregates' key bound through <see cref="Scopes"/>), with the zone their days and months are cut in: those of the
/// settings, parsed once at start (a scope that does not parse is refused there, <see cref="BudgetsValidator"/>), and
/// those of the virtual keys (<see cref="KeyDirectory"/>), which change at run time: <see cref="Current"/> is rebuilt
/// when the keys change, so a key's new budget is enforced and rolled up like any other.
/// </summary>
internal sealed class ConfiguredBudgets
{
    private readonly IReadOnlyList<Budget> _configured;
    private readonly KeyDirectory _keys;
    private volatile BudgetSet _current;

    public ConfiguredBudgets(IOptions<BudgetsOptions> options, KeyDirectory keys)
    {
        _keys = keys;
        Zone = options.Value.Zone;
        _configured = [.. options.Value.Items
            .Select(p => BudgetScope.TryParse(p.Value.Scope, out var scope) ? new Budget(p.Key, p.Value, scope) : null)
            .OfType<Budget>()];
        _current = new BudgetSet(-1, _configured);
    }

    /// <summary>Every budget now: the settings' and the keys' (not revoked ones).</summary>
    public BudgetSet Current
    {
        get
        {
            var current = _current;
            if (current.Version == _keys.Version)
            {
                return current;
            }

            var version = _keys.Version; // read before the keys: a change during the read makes the next call rebuild again
            var keyBudgets = _keys.Keys.Where(k => k.Budget is not null && k.RevokedAt is null).OrderBy(k => k.Id, StringComparer.Ordinal)
                .Select(k => Budget.Of(k, k.Budget!));
            return _current = new BudgetSet(version, [.. _configured, .. keyBudgets]);
        }
    }

    public IReadOnlyList<Budget> Items => Current.Items;

    public Budget? Find(string name) => Items.FirstOrDefault(b => string.Equals(b.Name, name, StringComparison.OrdinalIgnoreCase));

    public TimeZoneInfo Zone { get; }

    /// <summary>The settings' scopes: a key's budget is scoped to its client, which the aggregates always keep.</summary>
    public IEnumerable<BudgetScope> Scopes => _configured.Select(b => b.Scope);
}
