using BenchmarkDotNet.Attributes;
using LlmFunctions.Core.Proxy;

namespace LlmFunctions.Benchmarks;

/// <summary>Request parsing (every call) and the body rewrite (streams: include_usage; downgrades: the model).</summary>
[MemoryDiagnoser]
public class RequestFactsBenchmarks
{
    [Benchmark(Description = "TryParse chat request")]
    public bool TryParse() => RequestFacts.TryParse(Samples.ChatRequest, out _);

    /// <summary>The common streaming case: splice <c>stream_options</c> before the closing brace.</summary>
    [Benchmark(Description = "Rewrite inject include_usage")]
    public int RewriteInjectUsage() => RequestFacts.Rewrite(Samples.StreamRequest, injectUsage: true, hasStreamOptions: false, model: null).Length;

    /// <summary>A budget downgrade: the JsonNode path.</summary>
    [Benchmark(Description = "Rewrite downgrade model")]
    public int RewriteDowngrade() => RequestFacts.Rewrite(Samples.StreamRequest, injectUsage: true, hasStreamOptions: false, model: "gpt-4.1-nano").Length;
}
