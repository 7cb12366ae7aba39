using LlmFunctions.Core;

namespace LlmFunctions.Local;

/// <summary>Builds the local host; <c>Program</c> runs it, tests start it in-process on a free loopback port.</summary>
public static class LocalHost
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
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
