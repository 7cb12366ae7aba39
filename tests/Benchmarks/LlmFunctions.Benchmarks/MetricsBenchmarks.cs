using BenchmarkDotNet.Attributes;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Metrics;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Benchmarks;

/// <summary>One <c>/metrics</c> exposition of aggregates over 20 models × 3 clients (folded state, no storage).</summary>
[MemoryDiagnoser]
public class MetricsBenchmarks
{
    private AggregateSnapshot _snapshot = null!;
    private readonly MemoryStream _output = new(256 * 1024);

    [GlobalSetup]
    public void Setup()
    {
        var state = new AggregateState { Watermark = "202611280000" };
        var started = new DateTimeOffset(2026, 11, 28, 0, 0, 0, TimeSpan.Zero);
        var n = 0;
        for (var model = 0; model < 20; model++)
        {
            for (var client = 0; client < 3; client++)
            {
                foreach (var status in new[] { 200, 200, 200, 429, 500 })
                {
                    var streamed = n % 2 == 0;
                    state.Add(new CallRecord
                    {
                        CallId = n.ToString("x32", System.Globalization.CultureInfo.InvariantCulture),
                        StartedAt = started.AddSeconds(n),
                        Client = "client-" + client,
                        Method = "POST",
                        Endpoint = "/v1/chat/completions",
                        Model = "model-" + model,
                        UsedModel = "model-" + model,
                        StatusCode = status,
                        Outcome = CallOutcome.FromStatus(status),
                        InputTokens = 1000 + n,
                        OutputTokens = 200 + n,
                        CachedInputTokens = n % 7,
                        CostNanoUsd = 1_000_000 + (n * 1000),
                        Priced = model != 19,
                        UsageSource = UsageSource.Reported,
                        DurationMs = 100 + (n % 900),
                        TimeToFirstByteMs = streamed ? 50 + (n % 400) : 0,
                        Streamed = streamed,
                        Retries = n % 11 == 0 ? 1 : 0,
                    }, maxModels: 50);
                    n++;
                }
            }
        }

        _snapshot = new AggregateSnapshot(state, 0, TimeSpan.FromSeconds(30), DateTimeOffset.UnixEpoch);
    }

    [Benchmark(Description = "MetricsRenderer.RenderAsync 20 models x 3 clients")]
    public async Task<long> Render()
    {
        _output.SetLength(0);
        await MetricsRenderer.RenderAsync(_output, _snapshot, [], default, CancellationToken.None);
        return _output.Length;
    }
}
