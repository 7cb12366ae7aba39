using BenchmarkDotNet.Attributes;
using LlmFunctions.Core.Http;

namespace LlmFunctions.Benchmarks;

/// <summary>Path validation, once on every call.</summary>
[MemoryDiagnoser]
public class EndpointsBenchmarks
{
    [Benchmark(Description = "Endpoints.IsSafePath chat/completions")]
    public bool IsSafePath() => Endpoints.IsSafePath("chat/completions");
}
