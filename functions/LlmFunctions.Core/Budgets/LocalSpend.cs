namespace LlmFunctions.Core.Budgets;

/// <summary>
/// One enforced budget's spend as this instance recorded it, for the part of a period no rollup has counted yet.
/// A call asks for the spend since the last rollup in O(1): a running total minus a baseline taken when that
/// rollup (or the period) changed; a record that the baseline's window leaves out joins the baseline as it comes.
/// Records are placed by the second they became durable: that decides whether the rollup's read saw them, and it
/// stands in for the minute the record is written under, the time basis of every aggregate (the same minute for a record
/// committed at once; a record that waited, throttled or spooled, may be keyed later, until the next rollup, which reads
/// the records themselves, replaces this figure). The last hour is kept as one sum per second, to compute baselines.
/// </summary>
internal sealed class LocalSpend
{
    private static readonly long HorizonSeconds = (long)TimeSpan.FromHours(1).TotalSeconds;

    private readonly Lock _lock = new();
    private readonly Queue<Second> _recent = new();
    private Second? _newest;
    private long _total;
    private Baseline? _baseline;

    /// <summary>How many sums the last hour is kept in (memory grows with seconds, not with calls).</summary>
    internal int Seconds
    {
        get
        {
            lock (_lock)
            {
                return _recent.Count;
            }
        }
    }

    /// <summary>How many times a baseline was computed (once per rollup or period, never per call).</summary>
    internal int BaselinesComputed { get; private set; }

    public void Add(DateTimeOffset durableAt, long nano)
    {
        var second = durableAt.ToUnixTimeSeconds();
        lock (_lock)
        {
            _total += nano;
            if (_baseline is { } b && second < b.FromSecond)
            {
                b.Value += nano; // before the current window: not spend since the rollup, for this period
            }

            // Seconds arrive in order but for the odd straggler (another thread's record), which joins the newest.
            if (_newest is null || second > _newest.At)
            {
                _newest = new Second(second);
                _recent.Enqueue(_newest);
                while (_recent.Peek().At < second - HorizonSeconds)
                {
                    _recent.Dequeue();
                }
            }

            _newest.Nano += nano;
        }
    }

    /// <summary>Nano-USD recorded here from the second of <paramref name="since"/> on, and from the period's start.</summary>
    public long Since(DateTimeOffset since, DateTimeOffset periodStart)
    {
        var fromSecond = Math.Max(since.ToUnixTimeSeconds(), periodStart.ToUnixTimeSeconds());
        lock (_lock)
        {
            if (_baseline is not { } b || b.FromSecond != fromSecond)
            {
                // Once per rollup or period: everything recorded so far, less what counts in the new window.
                var counted = _recent.Where(s => s.At >= fromSecond).Sum(s => s.Nano);
                b = new Baseline(fromSecond) { Value = _total - counted };
                _baseline = b;
                BaselinesComputed++;
            }

            return _total - b.Value;
        }
    }

    private sealed class Baseline(long fromSecond)
    {
        public long FromSecond { get; } = fromSecond;

        public long Value { get; set; }
    }

    /// <summary>One second's spend.</summary>
    private sealed class Second(long at)
    {
        public long At { get; } = at;

        public long Nano { get; set; }
    }
}
