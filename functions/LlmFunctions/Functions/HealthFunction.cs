using LlmFunctions.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace LlmFunctions.Functions;

/// <summary><c>GET /health</c>: no auth; says whether storage is reachable.</summary>
public sealed class HealthFunction(LlmFunctionsHandlers handlers)
{
    [Function("Health")]
    public async Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "health")] HttpRequest request)
    {
        await handlers.HealthAsync(request.HttpContext);
        return new EmptyResult();
    }
}
