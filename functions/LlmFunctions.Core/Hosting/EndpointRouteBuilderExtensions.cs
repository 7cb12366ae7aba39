using LlmFunctions.Core.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace LlmFunctions.Core;

/// <summary>The routes of a plain ASP.NET Core host; the Functions app binds the same handlers with triggers.</summary>
public static class EndpointRouteBuilderExtensions
{
    public static IEndpointRouteBuilder MapLlmFunctions(this IEndpointRouteBuilder endpoints)
    {
        // Every method, so that a wrong one gets an OpenAI-shaped 405 from the handler rather than an empty one.
        endpoints.Map("/v1/{**path}", (HttpContext context, string? path) =>
            context.RequestServices.GetRequiredService<LlmFunctionsHandlers>().ProxyAsync(context, path));
        endpoints.MapGet("/health", (HttpContext context) =>
            context.RequestServices.GetRequiredService<LlmFunctionsHandlers>().HealthAsync(context));
        endpoints.MapGet("/metrics", (HttpContext context) =>
            context.RequestServices.GetRequiredService<LlmFunctionsHandlers>().MetricsAsync(context));
        endpoints.MapGet("/spend", (HttpContext context) =>
            context.RequestServices.GetRequiredService<LlmFunctionsHandlers>().SpendReportAsync(context));
        endpoints.MapGet("/spend/calls", (HttpContext context) =>
            context.RequestServices.GetRequiredService<LlmFunctionsHandlers>().SpendCallsAsync(context));
        endpoints.MapGet("/spend/me", (HttpContext context) =>
            context.RequestServices.GetRequiredService<LlmFunctionsHandlers>().SpendMeAsync(context));
        // Every method, so that a wrong one gets an OpenAI-shaped 405 from the handler.
        endpoints.Map("/keys", (HttpContext context) =>
            context.RequestServices.GetRequiredService<LlmFunctionsHandlers>().KeysAsync(context));
        endpoints.Map("/keys/{id}", (HttpContext context, string id) =>
            context.RequestServices.GetRequiredService<LlmFunctionsHandlers>().KeyAsync(context, id));
        endpoints.Map("/keys/{id}/rotate", (HttpContext context, string id) =>
            context.RequestServices.GetRequiredService<LlmFunctionsHandlers>().RotateKeyAsync(context, id));
        endpoints.Map("/keys/{id}/events", (HttpContext context, string id) =>
            context.RequestServices.GetRequiredService<LlmFunctionsHandlers>().KeyEventsAsync(context, id));
        return endpoints;
    }

    /// <summary>Unknown routes answer 404 in the OpenAI error shape.</summary>
    public static IApplicationBuilder UseOpenAIErrorsForUnknownRoutes(this IApplicationBuilder app) =>
        app.Use(async (context, next) =>
        {
            await next(context).ConfigureAwait(false);
            if (context.Response.StatusCode is 404 or 405 && !context.Response.HasStarted && context.GetEndpoint() is null)
            {
                await WriteUnknownRouteAsync(context, context.Response.StatusCode).ConfigureAwait(false);
            }
        });

    /// <summary>The answer to a route no handler has (404) or a method it does not take (405), on both hosts.</summary>
    internal static Task WriteUnknownRouteAsync(HttpContext context, int status) =>
        OpenAIError.WriteAsync(context, status,
            status == 404
                ? "Unknown route. The OpenAI API lives under /v1: use this host's /v1 as the SDK's base URL (for example https://<host>/v1)."
                : "Method not allowed.",
            OpenAIError.InvalidRequest, status == 404 ? "not_found" : "method_not_allowed");
}
