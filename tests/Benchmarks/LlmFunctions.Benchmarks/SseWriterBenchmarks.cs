using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using LlmFunctions.Core.Proxy;

namespace LlmFunctions.Benchmarks;

/// <summary>The SSE relay's per-event work: hide <c>"usage":null</c>, write the event to the client's pipe.</summary>
[MemoryDiagnoser]
public class SseWriterBenchmarks
{
    private readonly byte[] _scratch = new byte[Samples.StreamChunk.Length];
    private Pipe _pipe = null!;

    [GlobalSetup]
    public void Setup() => _pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false));

    [GlobalCleanup]
    public void Cleanup()
    {
        _pipe.Writer.Complete();
        _pipe.Reader.Complete();
    }

    /// <summary>Includes copying the chunk into a scratch buffer (the method edits in place).</summary>
    [Benchmark(Description = "StripNullUsage")]
    public int StripNullUsage()
    {
        Samples.StreamChunk.CopyTo(_scratch, 0);
        return SseWriter.StripNullUsage(_scratch);
    }

    /// <summary>One event written to a pipe, then flushed and consumed so the pipe never grows.</summary>
    [Benchmark(Description = "Write event to Pipe")]
    public async ValueTask<long> WriteToPipe()
    {
        SseWriter.Write(_pipe.Writer, "message", null, Samples.StreamChunk);
        await _pipe.Writer.FlushAsync();
        _pipe.Reader.TryRead(out var read);
        var length = read.Buffer.Length;
        _pipe.Reader.AdvanceTo(read.Buffer.End);
        return length;
    }
}
