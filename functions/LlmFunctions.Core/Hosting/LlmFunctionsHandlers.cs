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

    internal LlmFunctionsHandlers(ProxyHandler proxy, MetricsHandler metrics, HealthHandler health, BudgetRollup rollup)
    {
        _proxy = proxy;
        _metrics = metrics;
        _health = health;
        _rollup = rollup;
    }

    public Task ProxyAsync(HttpContext context, string? path) => _proxy.HandleAsync(context, path);

    public Task MetricsAsync(HttpContext context) => _metrics.HandleAsync(context);

    public Task HealthAsync(HttpContext context) => _health.HandleAsync(context);

    public Task BudgetRollupAsync(CancellationToken cancellationToken) => _rollup.RunAsync(cancellationToken);
}
