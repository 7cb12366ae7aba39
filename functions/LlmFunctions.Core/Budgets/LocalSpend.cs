namespace LlmFunctions.Core.Budgets;

/// <summary>
/// One enforced budget's spend as this instance recorded it, for the part of a period no rollup has counted yet.
/// A call asks for the spend since the last rollup in O(1): a running total minus a baseline taken when that
/// rollup (or the period) changed. Records are placed by the time they became durable, because that, not when
/// the call started, decides whether the rollup's read saw them; the last hour is kept to compute baselines.
/// </summary>
internal sealed class LocalSpend
{
    private static readonly TimeSpan Horizon = TimeSpan.FromHours(1);

    private readonly Lock _lock = new();
    private readonly Queue<(DateTimeOffset DurableAt, DateTimeOffset StartedAt, long Nano)> _recent = new();
    private long _total;
    private (DateTimeOffset Since, DateTimeOffset PeriodStart, long Baseline)? _baseline;

    public void Add(DateTimeOffset durableAt, DateTimeOffset startedAt, long nano)
    {
        lock (_lock)
        {
            _total += nano;
            _recent.Enqueue((durableAt, startedAt, nano));
            while (_recent.TryPeek(out var oldest) && oldest.DurableAt < durableAt - Horizon)
            {
                _recent.Dequeue();
            }
        }
    }

    /// <summary>Nano-USD recorded here after <paramref name="since"/> for calls that started in the period.</summary>
    public long Since(DateTimeOffset since, DateTimeOffset periodStart)
    {
        lock (_lock)
        {
            if (_baseline is not { } b || b.Since != since || b.PeriodStart != periodStart)
            {
                // Once per rollup or period: everything recorded so far, less what counts after the new baseline.
                long counted = 0;
                foreach (var (durableAt, startedAt, nano) in _recent)
                {
                    if (durableAt >= since && startedAt >= periodStart)
                    {
                        counted += nano;
                    }
                }

                b = (since, periodStart, _total - counted);
                _baseline = b;
            }

            return _total - b.Baseline;
        }
    }
}
