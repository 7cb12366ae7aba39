using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace LlmFunctions.Tests.Integration;

/// <summary>OpenTelemetry after the GenAI semantic conventions: what a call emits, and that an OTLP endpoint gets it.</summary>
public sealed class TelemetryTests
{
    private const string Prompt = "a secret prompt that must never be exported";

    /// <summary>A priced model no other test calls: the process-wide meter's points for it are this test's alone.</summary>
    private const string Model = "gpt-5-mini";

    [Fact]
    public async Task AChatCall_EmitsAGenAiSpan_AndTokenAndDurationMetrics_WithoutThePrompt()
    {
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        await using var env = await TestEnvironment.StartAsync();
        await using var host = await ProxyHost.StartAsync(env.Settings, s => s.AddOpenTelemetry()
            .WithTracing(t => t.AddSource("LlmFunctions").AddInMemoryExporter(spans))
            .WithMetrics(m => m.AddMeter("LlmFunctions").AddInMemoryExporter(metrics)));
        env.Upstream.Default = new FakeUpstream.Scenario { PromptTokens = 42, Words = 7 };
        using var http = host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", ChatBody.For(Model, content: Prompt));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var cost = double.Parse(response.Headers.GetValues("x-llm-cost-usd").Single(), System.Globalization.CultureInfo.InvariantCulture);
        using (var models = await http.GetAsync("/v1/models"))
        {
            Assert.Equal(HttpStatusCode.OK, models.StatusCode); // not a GenAI operation: no span
        }

        host.Services.GetRequiredService<MeterProvider>().ForceFlush();
        host.Services.GetRequiredService<TracerProvider>().ForceFlush();

        // The activity source is process-wide: hosts of tests running at the same time add their spans too.
        var callId = response.Headers.GetValues("x-llm-call-id").Single();
        var span = Assert.Single(spans, s => callId.Equals(s.GetTagItem("llmfunctions.call_id")));
        Assert.DoesNotContain(spans, s => s.GetTagItem("gen_ai.operation.name") is not "chat" and not "embeddings" and not "text_completion");
        Assert.Equal("chat " + Model, span.DisplayName);
        Assert.Equal(ActivityKind.Client, span.Kind);
        Assert.Equal("chat", span.GetTagItem("gen_ai.operation.name"));
        Assert.Equal("openai", span.GetTagItem("gen_ai.provider.name"));
        Assert.Equal(Model, span.GetTagItem("gen_ai.request.model"));
        Assert.Equal(Model + "-2025-04-14", span.GetTagItem("gen_ai.response.model"));
        Assert.Equal(42L, span.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Equal(7L, span.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.Equal(cost, (double)span.GetTagItem("llmfunctions.cost_usd")!, 9);
        Assert.Equal("default", span.GetTagItem("llmfunctions.upstream"));
        Assert.True(span.Duration > TimeSpan.Zero);
        Assert.DoesNotContain(span.TagObjects, t => t.Value?.ToString()?.Contains("secret prompt", StringComparison.Ordinal) == true);

        // The meter is process-wide too: only this test calls Model, so its points are this call's.
        var tokens = Points(metrics, "gen_ai.client.token.usage").Where(p => Tag(p, "gen_ai.request.model") == Model).ToList();
        Assert.Equal("{token}", metrics.First(m => m.Name == "gen_ai.client.token.usage").Unit);
        Assert.Equal(42, tokens.Single(p => Tag(p, "gen_ai.token.type") == "input").GetHistogramSum());
        Assert.Equal(7, tokens.Single(p => Tag(p, "gen_ai.token.type") == "output").GetHistogramSum());
        var duration = Assert.Single(Points(metrics, "gen_ai.client.operation.duration"), p => Tag(p, "gen_ai.request.model") == Model);
        Assert.Equal("s", metrics.First(m => m.Name == "gen_ai.client.operation.duration").Unit);
        Assert.Equal(1, duration.GetHistogramCount());
        Assert.Equal("chat", Tag(duration, "gen_ai.operation.name"));
    }

    [Theory]
    [OnBothHosts]
    public async Task WithAnOtlpEndpoint_SpansAndMetricsReachIt_AndThePromptDoesNot(HostKind kind)
    {
        await using var collector = await OtlpCollector.StartAsync();
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Url;
            s["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
            s["OTEL_BSP_SCHEDULE_DELAY"] = "100";
            s["OTEL_METRIC_EXPORT_INTERVAL"] = "500";
        }, kind: kind);
        using var http = env.Host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o-mini", content: Prompt));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // The activity source is process-wide: other tests' hosts export spans too, so wait for this call's own.
        var traces = await collector.WaitForAsync("/v1/traces", "chat gpt-4o-mini");
        var metrics = await collector.WaitForAsync("/v1/metrics", "gen_ai.client.token.usage");
        Assert.Contains("gen_ai.usage.input_tokens", traces, StringComparison.Ordinal);
        Assert.Contains("gen_ai.client.operation.duration", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain(collector.Bodies, b => b.Contains("secret prompt", StringComparison.Ordinal));
        Assert.DoesNotContain(collector.Bodies, b => b.Contains(ProxyHost.UpstreamKey, StringComparison.Ordinal));
    }

    private static List<MetricPoint> Points(List<Metric> metrics, string name)
    {
        var points = new List<MetricPoint>();
        foreach (var metric in metrics.Where(m => m.Name == name))
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                points.Add(point);
            }
        }

        return points;
    }

    private static string? Tag(MetricPoint point, string key)
    {
        foreach (var tag in point.Tags)
        {
            if (tag.Key == key)
            {
                return tag.Value?.ToString();
            }
        }

        return null;
    }

    /// <summary>An OTLP/HTTP receiver on loopback: keeps each request body (protobuf, read as text for its strings).</summary>
    private sealed class OtlpCollector : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<(string Path, string Body)> _received = new();

        private OtlpCollector(WebApplication app) => _app = app;

        public string Url { get; private set; } = "";

        public IEnumerable<string> Bodies => _received.Select(r => r.Body);

        public static async Task<OtlpCollector> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var collector = new OtlpCollector(app);
            app.MapPost("/v1/{signal}", async (HttpContext context, string signal) =>
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body);
                collector._received.Enqueue(("/v1/" + signal, Encoding.UTF8.GetString(body.ToArray())));
                return Results.Ok();
            });
            await app.StartAsync();
            collector.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return collector;
        }

        /// <summary>The first body sent to <paramref name="path"/> that holds <paramref name="text"/>, within 15 s.</summary>
        public async Task<string> WaitForAsync(string path, string text)
        {
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(15);
            while (DateTime.UtcNow < until)
            {
                if (_received.FirstOrDefault(r => r.Path == path && r.Body.Contains(text, StringComparison.Ordinal)) is { Body: { } body })
                {
                    return body;
                }

                await Task.Delay(100);
            }

            Assert.Fail($"nothing with '{text}' reached {path}; received: {string.Join(", ", _received.Select(r => r.Path))}");
            return "";
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
