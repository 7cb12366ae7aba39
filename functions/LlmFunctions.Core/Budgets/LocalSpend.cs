namespace LlmFunctions.Core.Budgets;

/// <summary>
/// One enforced budget's spend as this instance recorded it, for the part of a period no rollup has counted yet.
/// A call asks for the spend since the last rollup in O(1): a running total minus a baseline taken when that
/// rollup (or the period) changed; a record that the baseline's window leaves out joins the baseline as it comes.
/// Records are placed by the second they became durable, because that, not when the call started, decides whether
/// the rollup's read saw them; the last hour is kept as one sum per second, split by call-start minute (a period
/// starts on a whole minute), to compute baselines.
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

    public void Add(DateTimeOffset durableAt, DateTimeOffset startedAt, long nano)
    {
        var second = durableAt.ToUnixTimeSeconds();
        var startMinute = startedAt.ToUnixTimeSeconds() / 60;
        lock (_lock)
        {
            _total += nano;
            if (_baseline is { } b && (second < b.FromSecond || startMinute < b.FromMinute))
            {
                b.Value += nano; // outside the current window: not spend since the rollup, for this period
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

            _newest.Add(startMinute, nano);
        }
    }

    /// <summary>Nano-USD recorded here from the second of <paramref name="since"/> on, for calls started in the period.</summary>
    public long Since(DateTimeOffset since, DateTimeOffset periodStart)
    {
        var fromSecond = since.ToUnixTimeSeconds();
        var fromMinute = (periodStart.ToUnixTimeSeconds() + 59) / 60;
        lock (_lock)
        {
            if (_baseline is not { } b || b.FromSecond != fromSecond || b.FromMinute != fromMinute)
            {
                // Once per rollup or period: everything recorded so far, less what counts in the new window.
                long counted = 0;
                foreach (var s in _recent)
                {
                    if (s.At >= fromSecond)
                    {
                        counted += s.From(fromMinute);
                    }
                }

                b = new Baseline(fromSecond, fromMinute) { Value = _total - counted };
                _baseline = b;
                BaselinesComputed++;
            }

            return _total - b.Value;
        }
    }

    private sealed class Baseline(long fromSecond, long fromMinute)
    {
        public long FromSecond { get; } = fromSecond;

        public long FromMinute { get; } = fromMinute;

        public long Value { get; set; }
    }

    /// <summary>One second's spend by call-start minute (a handful of minutes: calls last seconds to minutes).</summary>
    private sealed class Second(long at)
    {
        private readonly List<(long Minute, long Nano)> _byStartMinute = new(2);

        public long At { get; } = at;

        public void Add(long minute, long nano)
        {
            var i = _byStartMinute.FindIndex(e => e.Minute == minute);
            if (i < 0)
            {
                _byStartMinute.Add((minute, nano));
            }
            else
            {
                _byStartMinute[i] = (minute, _byStartMinute[i].Nano + nano);
            }
        }

        public long From(long minute) => _byStartMinute.Where(e => e.Minute >= minute).Sum(e => e.Nano);
    }
}
