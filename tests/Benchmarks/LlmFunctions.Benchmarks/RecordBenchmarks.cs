using BenchmarkDotNet.Attributes;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Benchmarks;

/// <summary>Mapping a call record to its table entity, once per call in the group commit.</summary>
[MemoryDiagnoser]
public class RecordBenchmarks
{
    private readonly CallRecord _record = new()
    {
        CallId = "01a21f86430a7c2c94e0f9df629bf9d3",
        StartedAt = new DateTimeOffset(2026, 11, 28, 0, 20, 21, TimeSpan.Zero),
        Client = "bench",
        Method = "POST",
        Endpoint = "/v1/chat/completions",
        Model = "gpt-4.1-mini",
        UsedModel = "gpt-4.1-mini",
        ResponseModel = "gpt-4.1-mini-2025-04-14",
        StatusCode = 200,
        InputTokens = 17,
        OutputTokens = 20,
        CostNanoUsd = 38800,
        Priced = true,
        UsageSource = UsageSource.Reported,
        DurationMs = 0.42,
        TimeToFirstByteMs = 0.31,
        UpstreamRequestId = "req_3f2841d65e3c414d",
    };

    [Benchmark(Description = "CallRecordMapper.ToEntity")]
    public int ToEntity() => CallRecordMapper.ToEntity(_record, "202611280020-42").Count;
}
