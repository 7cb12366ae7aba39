using System.Net;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Records;
using LlmFunctions.Core.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Metrics;

/// <summary>
/// <c>GET /metrics</c>: the durable aggregates in Prometheus text format 0.0.4. Always 0.0.4, also when the
/// scraper prefers OpenMetrics: OpenMetrics would rename the users' <c>api_requests_by_status</c> counter
/// (counters must end in <c>_total</c> there) and break their queries.
/// </summary>
internal sealed partial class MetricsHandler(
    AggregateReader aggregates, RecordSpool spool, IBudgetGaugeSource budgets, IOptions<MetricsOptions> options, IHostEnvironment environment,
    ILogger<MetricsHandler> logger)
{
    private readonly byte[]? _tokenHash =
        string.IsNullOrEmpty(options.Value.BearerToken) ? null : BearerKey.HashOf(options.Value.BearerToken);

    public async Task HandleAsync(HttpContext context)
    {
        if (!IsAuthorized(context, out var reason))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await ApiFailure.ScrapeUnauthorized(reason).WriteAsync(context).ConfigureAwait(false);
            return;
        }

        AggregateSnapshot snapshot;
        IReadOnlyList<BudgetGauge> budgetGauges;
        using var storageRequests = StorageRequestCounter.BeginScope();
        try
        {
            snapshot = await aggregates.SnapshotAsync(context.RequestAborted).ConfigureAwait(false);
            budgetGauges = await budgets.GetAsync(context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is Azure.RequestFailedException or TaskCanceledException or HttpRequestException
            && !context.RequestAborted.IsCancellationRequested)
        {
            // No partial exposition: a scrape that cannot read the aggregates fails (Prometheus marks it down) rather
            // than returning counters that might look lower.
            LogStorageFailed(logger, ex.GetType().Name, (ex as Azure.RequestFailedException)?.Status ?? 0);
            await ApiFailure.StorageDidNotAnswer("Storage did not answer in time; the metrics are unavailable for this scrape.")
                .WriteAsync(context).ConfigureAwait(false);
            return;
        }
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        using var buffer = new MemoryStream();
        var instance = new MetricsRenderer.InstanceFacts(spool.Backlog, storageRequests.Requests, spool.Quarantined);
        await MetricsRenderer.RenderAsync(buffer, snapshot, budgetGauges, instance, context.RequestAborted)
            .ConfigureAwait(false);
        context.Response.ContentLength = buffer.Length;
        await context.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), context.RequestAborted).ConfigureAwait(false);
    }

    private bool IsAuthorized(HttpContext context, out string reason)
    {
        if (_tokenHash is null)
        {
            var remote = context.Connection.RemoteIpAddress;
            if (environment.IsDevelopment() && remote is not null && IPAddress.IsLoopback(remote))
            {
                reason = "";
                return true;
            }

            reason = "Metrics__BearerToken is not configured, so /metrics is closed (only loopback callers in Development may scrape without it).";
            return false;
        }

        if (BearerKey.Matches(context.Request.Headers.Authorization.ToString(), _tokenHash))
        {
            reason = "";
            return true;
        }

        reason = "A valid scrape token is required: send 'Authorization: Bearer <Metrics__BearerToken>'.";
        return false;
    }

    [LoggerMessage(EventId = 5101, Level = LogLevel.Warning, Message = "Scrape failed: storage did not answer ({Error}, status {Status}).")]
    private static partial void LogStorageFailed(ILogger logger, string error, int status);
}
