using LlmFunctions.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace LlmFunctions.Functions;

/// <summary>
/// <c>GET /spend</c>, <c>/spend/calls</c> and <c>/spend/me</c>: spend reports. Anonymous at the Functions level; the handler
/// takes the admin key (<c>Admin__KeySha256</c>) or a client key (its own spend only).
/// </summary>
public sealed class SpendFunctions(LlmFunctionsHandlers handlers)
{
    [Function("SpendReport")]
    public async Task<IActionResult> ReportAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "spend")] HttpRequest request)
    {
        await handlers.SpendReportAsync(request.HttpContext);
        return new EmptyResult();
    }

    [Function("SpendCalls")]
    public async Task<IActionResult> CallsAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "spend/calls")] HttpRequest request)
    {
        await handlers.SpendCallsAsync(request.HttpContext);
        return new EmptyResult();
    }

    [Function("SpendMe")]
    public async Task<IActionResult> MeAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "spend/me")] HttpRequest request)
    {
        await handlers.SpendMeAsync(request.HttpContext);
        return new EmptyResult();
    }
}
