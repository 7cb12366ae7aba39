using BenchmarkDotNet.Attributes;
using LlmFunctions.Core;
using LlmFunctions.Core.Pricing;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Benchmarks;

/// <summary>Price lookup and cost arithmetic, once per metered call.</summary>
[MemoryDiagnoser]
public class PricingBenchmarks
{
    private readonly PriceTable _prices = new(Options.Create(new PricingOptions()));
    private ModelPrice _price = null!;

    [GlobalSetup]
    public void Setup()
    {
        if (!_prices.TryGetPrice("gpt-4.1-mini", out _price))
        {
            throw new InvalidOperationException("gpt-4.1-mini has no built-in price.");
        }
    }

    [Benchmark(Description = "TryGetPrice exact")]
    public bool Exact() => _prices.TryGetPrice("gpt-4.1-mini", out _);

    [Benchmark(Description = "TryGetPrice dated snapshot")]
    public bool Snapshot() => _prices.TryGetPrice("gpt-4.1-mini-2025-04-14", out _);

    [Benchmark(Description = "TryGetPrice provider/ prefix")]
    public bool Prefixed() => _prices.TryGetPrice("openai/gpt-4.1-mini", out _);

    [Benchmark(Description = "TryGetPrice unknown")]
    public bool Unknown() => _prices.TryGetPrice("no-such-model-2025-01-01", out _);

    [Benchmark(Description = "CostNanoUsd")]
    public long Cost() => CostCalculator.CostNanoUsd(_price, 1234, 200, 567);
}
