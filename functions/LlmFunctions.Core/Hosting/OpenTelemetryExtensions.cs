using Azure.Monitor.OpenTelemetry.Exporter;
using LlmFunctions.Core.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace LlmFunctions.Core;

/// <summary>Where the GenAI spans and metrics go (<see cref="GenAiTelemetry"/>), for any host.</summary>
public static class OpenTelemetryExtensions
{
    /// <summary>
    /// Exports to any OTLP endpoint when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the standard <c>OTEL_*</c>
    /// settings apply), and to Application Insights when <c>APPLICATIONINSIGHTS_CONNECTION_STRING</c> is, with the
    /// managed identity when <c>APPLICATIONINSIGHTS_AUTHENTICATION_STRING</c> asks for Entra ID (as the Bicep sets
    /// it). With neither, nothing is registered and a call pays one check. <paramref name="configure"/> adds a
    /// host's own parts (the Functions worker's defaults).
    /// </summary>
    public static IServiceCollection AddLlmFunctionsOpenTelemetry(this IServiceCollection services, IConfiguration configuration,
        Action<OpenTelemetryBuilder>? configure = null)
    {
        var otlp = !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var appInsights = configuration["APPLICATIONINSIGHTS_CONNECTION_STRING"];
        if (!otlp && string.IsNullOrWhiteSpace(appInsights))
        {
            return services;
        }

        var entraId = (configuration["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] ?? "").Contains("Authorization=AAD", StringComparison.OrdinalIgnoreCase);
        void AzureMonitor(AzureMonitorExporterOptions o)
        {
            o.ConnectionString = appInsights;
            if (entraId)
            {
                o.Credential = AppCredential.Create(configuration); // AZURE_CLIENT_ID names the app's user-assigned identity
            }
        }

        var builder = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("llm-functions"))
            .WithTracing(t =>
            {
                t.AddSource(GenAiTelemetry.SourceName);
                if (otlp)
                {
                    t.AddOtlpExporter();
                }

                if (!string.IsNullOrWhiteSpace(appInsights))
                {
                    t.AddAzureMonitorTraceExporter(AzureMonitor);
                }
            })
            .WithMetrics(m =>
            {
                m.AddMeter(GenAiTelemetry.SourceName);
                if (otlp)
                {
                    m.AddOtlpExporter();
                }

                if (!string.IsNullOrWhiteSpace(appInsights))
                {
                    m.AddAzureMonitorMetricExporter(AzureMonitor);
                }
            });
        configure?.Invoke(builder);
        return services;
    }
}
