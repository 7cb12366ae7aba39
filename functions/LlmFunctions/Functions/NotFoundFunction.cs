using LlmFunctions.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace LlmFunctions.Functions;

/// <summary>
/// Every other route (the site root, a base URL without <c>/v1</c>, a browser's <c>/favicon.ico</c>): 404 in the OpenAI
/// shape with the hint, where the Functions host alone answers an empty 404. The host orders routes by function name,
/// not by how specific they are (Azure/azure-functions-host#9876), so the constraint keeps this route off every other
/// function's; the host guards its own <c>/admin</c> routes from catch-alls.
/// </summary>
public static class NotFoundFunction
{
    /// <summary>Paths under the other functions' routes, which this one must never take.</summary>
    internal const string Route = "{*path:regex(^(?!(v1|health|metrics|spend|keys)(/|$)).*$)}";

    /// <summary>The site root only (an optional parameter that must be empty): a catch-all's constraint fails when it
    /// has no value, so the root needs its own route, or the host would show its home page.</summary>
    internal const string RootRoute = "{root:regex(^$)?}";

    [Function("NotFound")]
    public static async Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", "put", "patch", "delete", "head", "options", Route = Route)] HttpRequest request)
    {
        await LlmFunctionsHandlers.NotFoundAsync(request.HttpContext);
        return new EmptyResult();
    }

    [Function("NotFoundRoot")]
    public static async Task<IActionResult> RootAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", "put", "patch", "delete", "head", "options", Route = RootRoute)] HttpRequest request)
    {
        await LlmFunctionsHandlers.NotFoundAsync(request.HttpContext);
        return new EmptyResult();
    }
}
