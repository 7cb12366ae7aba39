using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Hosting;
using LlmFunctions.Core.Keys;
using LlmFunctions.Core.Metrics;
using LlmFunctions.Core.Proxy;
using LlmFunctions.Core.Spend;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Core;

/// <summary>The handlers a host binds to its triggers; the only public door into Core's logic.</summary>
public sealed class LlmFunctionsHandlers
{
    private readonly ProxyHandler _proxy;
    private readonly MetricsHandler _metrics;
    private readonly HealthHandler _health;
    private readonly SpendHandler _spend;
    private readonly BudgetRollup _rollup;
    private readonly BudgetEnforcer _enforcer;
    private readonly BudgetReservations _reservations;
    private readonly KeysHandler _keys;

    internal LlmFunctionsHandlers(ProxyHandler proxy, MetricsHandler metrics, HealthHandler health, SpendHandler spend, BudgetRollup rollup,
        BudgetEnforcer enforcer, BudgetReservations reservations, KeysHandler keys)
    {
        _keys = keys;
        _reservations = reservations;
        _spend = spend;
        _proxy = proxy;
        _metrics = metrics;
        _health = health;
        _rollup = rollup;
        _enforcer = enforcer;
    }

    public Task ProxyAsync(HttpContext context, string? path) => _proxy.HandleAsync(context, path);

    /// <summary>Any route no other handler has: 404 in the OpenAI shape, saying where the API lives.</summary>
    public static Task NotFoundAsync(HttpContext context) => EndpointRouteBuilderExtensions.WriteUnknownRouteAsync(context, StatusCodes.Status404NotFound);

    public Task MetricsAsync(HttpContext context) => _metrics.HandleAsync(context);

    public Task HealthAsync(HttpContext context) => _health.HandleAsync(context);

    /// <summary><c>GET /spend</c>: a spend report (JSON or CSV).</summary>
    public Task SpendReportAsync(HttpContext context) => _spend.ReportAsync(context);

    /// <summary><c>GET /spend/calls</c>: a page of call records.</summary>
    public Task SpendCallsAsync(HttpContext context) => _spend.CallsAsync(context);

    /// <summary><c>GET /spend/me</c>: the calling client's spend and budgets.</summary>
    public Task SpendMeAsync(HttpContext context) => _spend.MeAsync(context);

    /// <summary><c>/keys</c>: GET lists the keys, POST creates one (admin key only).</summary>
    public Task KeysAsync(HttpContext context) => _keys.KeysAsync(context);

    /// <summary><c>/keys/{id}</c>: GET reads, PATCH changes, DELETE revokes.</summary>
    public Task KeyAsync(HttpContext context, string id) => _keys.KeyAsync(context, id);

    /// <summary><c>POST /keys/{id}/rotate</c>: a new secret, the old one kept for a grace period.</summary>
    public Task RotateKeyAsync(HttpContext context, string id) => _keys.RotateAsync(context, id);

    /// <summary><c>GET /keys/{id}/events</c>: the key's audit rows.</summary>
    public Task KeyEventsAsync(HttpContext context, string id) => _keys.EventsAsync(context, id);

    /// <summary>The budget timer: rolls spend up, notifies, and enforces what it found here at once (other instances
    /// within <c>Budgets__RefreshSeconds</c>); then frees what stopped instances leased from reserved budgets and did
    /// not spend.</summary>
    public async Task BudgetRollupAsync(CancellationToken cancellationToken)
    {
        await _rollup.RunAsync(cancellationToken, _enforcer.Apply).ConfigureAwait(false);
        await _reservations.ReconcileAsync(cancellationToken).ConfigureAwait(false);
    }
}
