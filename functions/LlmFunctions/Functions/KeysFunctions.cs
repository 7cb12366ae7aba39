using LlmFunctions.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace LlmFunctions.Functions;

/// <summary>
/// <c>/keys</c>: the admin API of virtual keys. Anonymous at the Functions level; the handler takes the admin key
/// (<c>Admin__KeySha256</c>) only, and answers a method a route does not take with 405.
/// </summary>
public sealed class KeysFunctions(LlmFunctionsHandlers handlers)
{
    [Function("Keys")]
    public async Task<IActionResult> KeysAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", "put", "patch", "delete", Route = "keys")] HttpRequest request)
    {
        await handlers.KeysAsync(request.HttpContext);
        return new EmptyResult();
    }

    [Function("Key")]
    public async Task<IActionResult> KeyAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", "put", "patch", "delete", Route = "keys/{id}")] HttpRequest request, string id)
    {
        await handlers.KeyAsync(request.HttpContext, id);
        return new EmptyResult();
    }

    [Function("KeyRotate")]
    public async Task<IActionResult> RotateAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", "put", "patch", "delete", Route = "keys/{id}/rotate")] HttpRequest request, string id)
    {
        await handlers.RotateKeyAsync(request.HttpContext, id);
        return new EmptyResult();
    }

    [Function("KeyEvents")]
    public async Task<IActionResult> EventsAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", "put", "patch", "delete", Route = "keys/{id}/events")] HttpRequest request, string id)
    {
        await handlers.KeyEventsAsync(request.HttpContext, id);
        return new EmptyResult();
    }
}
