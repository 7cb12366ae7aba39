using System.Text;
using BenchmarkDotNet.Attributes;
using LlmFunctions.Core.Proxy;

namespace LlmFunctions.Benchmarks;

/// <summary>Usage extraction: once per non-streaming response, once per stream event.</summary>
[MemoryDiagnoser]
public class ResponseFactsBenchmarks
{
    private readonly StringBuilder _text = new(4096);

    [Benchmark(Description = "TryRead chat completion")]
    public long ChatCompletion()
    {
        ResponseFacts.TryRead(Samples.ChatCompletion, out var facts);
        return facts.Usage?.OutputTokens ?? 0;
    }

    [Benchmark(Description = "TryRead stream chunk")]
    public bool StreamChunk() => ResponseFacts.TryRead(Samples.StreamChunk, out _);

    /// <summary>As the relay calls it: collecting the delta text for an estimate if no usage arrives.</summary>
    [Benchmark(Description = "TryRead stream chunk + text")]
    public int StreamChunkWithText()
    {
        _text.Clear();
        ResponseFacts.TryRead(Samples.StreamChunk, out _, _text);
        return _text.Length;
    }

    [Benchmark(Description = "TryRead usage chunk")]
    public long UsageChunk()
    {
        ResponseFacts.TryRead(Samples.UsageChunk, out var facts);
        return facts.Usage?.InputTokens ?? 0;
    }
}
