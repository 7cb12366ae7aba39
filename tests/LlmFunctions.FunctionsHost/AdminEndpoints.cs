namespace LlmFunctions.FunctionsHost;

/// <summary>The host's admin endpoints the emulator keeps: invoke a non-HTTP function, and host status.</summary>
internal static class AdminEndpoints
{
    public static IEndpointRouteBuilder MapAdminEndpoints(this IEndpointRouteBuilder endpoints)
    {
        // As on the host: 202 at once, the invocation runs on. Local admin calls need no master key here.
        endpoints.MapPost("/admin/functions/{name}", (string name, LoadedApp app, TimerTriggerService timers) =>
        {
            if (app.Current?.Functions.Find(name) is not TimerFunction timer)
            {
                return Results.NotFound();
            }

            timers.Trigger(timer);
            return Results.Accepted();
        });
        endpoints.MapGet("/admin/host/status", (LoadedApp app) =>
            Results.Json(new { state = app.Current is null ? "Initialized" : "Running", version = WorkerHandshake.HostVersion }));
        return endpoints;
    }
}
