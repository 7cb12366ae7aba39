using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Hosting;
using LlmFunctions.Core.Metrics;
using LlmFunctions.Core.Proxy;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Core;

/// <summary>The handlers a host binds to its triggers; the only public door into Core's logic.</summary>
public sealed class LlmFunctionsHandlers
{
    private readonly ProxyHandler _proxy;
    private readonly MetricsHandler _metrics;
    private readonly HealthHandler _health;
    private readonly BudgetRollup _rollup;
    private readonly BudgetEnforcer _enforcer;

    internal LlmFunctionsHandlers(ProxyHandler proxy, MetricsHandler metrics, HealthHandler health, BudgetRollup rollup, BudgetEnforcer enforcer)
    {
        _proxy = proxy;
        _metrics = metrics;
        _health = health;
        _rollup = rollup;
        _enforcer = enforcer;
    }

    public Task ProxyAsync(HttpContext context, string? path) => _proxy.HandleAsync(context, path);

    public Task MetricsAsync(HttpContext context) => _metrics.HandleAsync(context);

    public Task HealthAsync(HttpContext context) => _health.HandleAsync(context);

    /// <summary>The budget timer: rolls spend up, notifies, and enforces what it found here at once (other instances
    /// within <c>Budgets__RefreshSeconds</c>).</summary>
    public Task BudgetRollupAsync(CancellationToken cancellationToken) => _rollup.RunAsync(cancellationToken, _enforcer.Apply);
}
