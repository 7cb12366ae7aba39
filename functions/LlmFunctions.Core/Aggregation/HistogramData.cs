namespace LlmFunctions.Core.Aggregation;

/// <summary>
/// A histogram as durable counts: per bucket (not cumulative; the last one is +Inf) the number of observations
/// and their sum. Keeping the sum per bucket lets the renderer replay each bucket as one weighted observation at
/// its mean, which lies inside the bucket, so prometheus-net reproduces exact bucket counts and the sum.
/// <para>Sums are whole units (<see cref="MetricKey.Scale"/>), so adding the same observations in any order, one by
/// one or as partial sums from several instances, gives the same bits: a scrape that adds an unfolded minute's
/// summaries and the fold that adds its records agree exactly, and a <c>_sum</c> never moves down.
/// <see cref="Sums"/> holds what states written before that change had summed as doubles; it only ever stays put.</para>
/// </summary>
internal sealed class HistogramData
{
    public long[] Counts { get; set; } = [];

    /// <summary>Sums per bucket in whole units (microseconds, nano-USD).</summary>
    public long[] Units { get; set; } = [];

    /// <summary>Sums per bucket from states written before <see cref="Units"/> existed, in the rendered unit.</summary>
    public double[] Sums { get; set; } = [];

    public static HistogramData For(double[] bounds) => new()
    {
        Counts = new long[bounds.Length + 1],
        Units = new long[bounds.Length + 1],
    };

    /// <summary>Counts one observation of <paramref name="units"/> whole units into its bucket.</summary>
    public void Observe(double[] bounds, double scale, long units)
    {
        var i = 0;
        while (i < bounds.Length && units > (long)Math.Round(bounds[i] * scale))
        {
            i++;
        }

        Counts[i]++;
        EnsureUnits()[i] += units;
    }

    public void Add(HistogramData other)
    {
        var units = EnsureUnits();
        for (var i = 0; i < Counts.Length && i < other.Counts.Length; i++)
        {
            Counts[i] += other.Counts[i];
            units[i] += i < other.Units.Length ? other.Units[i] : 0;
        }

        if (other.Sums.Length > 0)
        {
            var sums = Sums.Length == Counts.Length ? Sums : Sums = new double[Counts.Length];
            for (var i = 0; i < sums.Length && i < other.Sums.Length; i++)
            {
                sums[i] += other.Sums[i];
            }
        }
    }

    /// <summary>The sum of bucket <paramref name="i"/> in the rendered unit.</summary>
    public double Sum(int i, double scale) => (i < Sums.Length ? Sums[i] : 0) + (i < Units.Length ? Units[i] / scale : 0);

    public HistogramData Clone() => new() { Counts = [.. Counts], Units = [.. Units], Sums = [.. Sums] };

    private long[] EnsureUnits() => Units.Length == Counts.Length ? Units : Units = new long[Counts.Length];
}
