namespace LlmFunctions.Core.Budgets;

/// <summary>
/// One enforced budget's spend as this instance recorded it, for the part of a period no rollup has counted yet.
/// A call asks for the spend since the last rollup in O(1): a running total minus a baseline taken when that
/// rollup (or the period) changed. Records are placed by the second they became durable, because that, not when
/// the call started, decides whether the rollup's read saw them; the last hour is kept, summed per durable second
/// and start minute (a period starts on a whole minute), to compute baselines.
/// </summary>
internal sealed class LocalSpend
{
    private static readonly long HorizonSeconds = (long)TimeSpan.FromHours(1).TotalSeconds;

    private readonly Lock _lock = new();
    private readonly Queue<Bucket> _recent = new();
    private Bucket? _current;
    private long _total;
    private (DateTimeOffset Since, DateTimeOffset PeriodStart, long Baseline)? _baseline;

    /// <summary>How many sums the last hour is kept in (memory grows with seconds, not with calls).</summary>
    internal int Buckets
    {
        get
        {
            lock (_lock)
            {
                return _recent.Count + (_current is null ? 0 : 1);
            }
        }
    }

    public void Add(DateTimeOffset durableAt, DateTimeOffset startedAt, long nano)
    {
        var second = durableAt.ToUnixTimeSeconds();
        var startMinute = startedAt.ToUnixTimeSeconds() / 60;
        lock (_lock)
        {
            _total += nano;
            if (_current is { } c && c.DurableSecond == second && c.StartMinute == startMinute)
            {
                c.Nano += nano;
                return;
            }

            if (_current is not null)
            {
                _recent.Enqueue(_current);
            }

            _current = new Bucket(second, startMinute) { Nano = nano };
            while (_recent.TryPeek(out var oldest) && oldest.DurableSecond < second - HorizonSeconds)
            {
                _recent.Dequeue();
            }
        }
    }

    /// <summary>Nano-USD recorded here from the second of <paramref name="since"/> on, for calls started in the period.</summary>
    public long Since(DateTimeOffset since, DateTimeOffset periodStart)
    {
        lock (_lock)
        {
            if (_baseline is not { } b || b.Since != since || b.PeriodStart != periodStart)
            {
                // Once per rollup or period: everything recorded so far, less what counts after the new baseline.
                var fromSecond = since.ToUnixTimeSeconds();
                var fromMinute = (periodStart.ToUnixTimeSeconds() + 59) / 60;
                long counted = 0;
                foreach (var bucket in _recent.Append(_current))
                {
                    if (bucket is not null && bucket.DurableSecond >= fromSecond && bucket.StartMinute >= fromMinute)
                    {
                        counted += bucket.Nano;
                    }
                }

                b = (since, periodStart, _total - counted);
                _baseline = b;
            }

            return _total - b.Baseline;
        }
    }

    private sealed class Bucket(long durableSecond, long startMinute)
    {
        public long DurableSecond { get; } = durableSecond;

        public long StartMinute { get; } = startMinute;

        public long Nano { get; set; }
    }
}
