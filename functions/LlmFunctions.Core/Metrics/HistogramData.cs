namespace LlmFunctions.Core.Metrics;

/// <summary>
/// A histogram as durable counts: per bucket (not cumulative; the last one is +Inf) the number of observations
/// and their sum. Keeping the sum per bucket lets the renderer replay each bucket as one weighted observation at
/// its mean, which lies inside the bucket, so prometheus-net reproduces exact bucket counts and the exact sum.
/// </summary>
internal sealed class HistogramData
{
    public long[] Counts { get; set; } = [];

    public double[] Sums { get; set; } = [];

    public static HistogramData For(double[] bounds) => new()
    {
        Counts = new long[bounds.Length + 1],
        Sums = new double[bounds.Length + 1],
    };

    public void Observe(double[] bounds, double value)
    {
        var i = 0;
        while (i < bounds.Length && value > bounds[i])
        {
            i++;
        }

        Counts[i]++;
        Sums[i] += value;
    }

    public void Add(HistogramData other)
    {
        for (var i = 0; i < Counts.Length && i < other.Counts.Length; i++)
        {
            Counts[i] += other.Counts[i];
            Sums[i] += other.Sums[i];
        }
    }
}
