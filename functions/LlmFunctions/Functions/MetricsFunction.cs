using LlmFunctions.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace LlmFunctions.Functions;

/// <summary><c>GET /metrics</c>: Prometheus text; the handler requires <c>Metrics__BearerToken</c>.</summary>
public sealed class MetricsFunction(LlmFunctionsHandlers handlers)
{
    [Function("Metrics")]
    public async Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "metrics")] HttpRequest request)
    {
        await handlers.MetricsAsync(request.HttpContext);
        return new EmptyResult();
    }
}
