using LlmFunctions.Core;

namespace LlmFunctions.Local;

/// <summary>Builds the local host; <c>Program</c> runs it, tests start it in-process on a free loopback port.</summary>
public static class LocalHost
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // appsettings.json beside the program, wherever it is started from (the quick start runs it from the repo root,
        // where the framework's Warning level and the one line per call would otherwise not apply).
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder);
        builder.Services.AddLlmFunctions(builder.Configuration);
        builder.Services.AddLlmFunctionsBackgroundRollup();
        builder.Services.AddLlmFunctionsOpenTelemetry(builder.Configuration);

        var app = builder.Build();
        app.UseOpenAIErrorsForUnknownRoutes();
        app.MapLlmFunctions();
        return app;
    }
}
