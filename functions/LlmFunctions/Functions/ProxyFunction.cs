using LlmFunctions.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace LlmFunctions.Functions;

/// <summary>
/// <c>/v1/{path}</c>: the OpenAI-compatible proxy. Anonymous at the Functions level because OpenAI SDKs send
/// their key as <c>Authorization: Bearer</c>, which the handler checks against <c>Clients__*</c>.
/// </summary>
public sealed class ProxyFunction(LlmFunctionsHandlers handlers)
{
    [Function("Proxy")]
    public async Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", "put", "patch", "delete", Route = "v1/{*path}")] HttpRequest request,
        string? path)
    {
        await handlers.ProxyAsync(request.HttpContext, path);
        return new EmptyResult();
    }
}
