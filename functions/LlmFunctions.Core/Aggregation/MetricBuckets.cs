namespace LlmFunctions.Core.Aggregation;

/// <summary>Histogram buckets. Changing them changes the durable aggregates: only ever append.</summary>
internal static class MetricBuckets
{
    /// <summary>The users' latency buckets (brief): 0.1 … 60 s.</summary>
    public static readonly double[] DurationSeconds = [0.1, 0.5, 1, 2, 5, 10, 30, 60];

    /// <summary>$0.0001 … $5, with $0.5 so "a call above $0.5" is a bucket query.</summary>
    public static readonly double[] CostUsd = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];

    public static readonly double[] TimeToFirstByteSeconds = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];
}
