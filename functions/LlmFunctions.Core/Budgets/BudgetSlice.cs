using LlmFunctions.Core.Aggregation;

namespace LlmFunctions.Core.Budgets;

/// <summary>This instance's lease of one budget for one period, and what it holds of it.</summary>
internal sealed class BudgetSlice(BudgetPeriod period)
{
    private readonly Lock _lock = new();
    private long _leased;
    private long _settled;
    private long _reserved;
    private bool _granted;
    private DateTimeOffset _renewedAt;

    public string Id { get; } = Guid.NewGuid().ToString("N");

    public BudgetPeriod Period { get; } = period;

    public string PeriodKey => Period.Key;

    public SemaphoreSlim Renewing { get; } = new(1, 1);

    /// <summary>Not in the ledger yet.</summary>
    public bool IsNew
    {
        get
        {
            lock (_lock)
            {
                return _renewedAt == default; // never granted (a closed slice is not granted, but is in the ledger)
            }
        }
    }

    /// <summary>Reservations in flight.</summary>
    public long Reserved
    {
        get
        {
            lock (_lock)
            {
                return _reserved;
            }
        }
    }

    public DateTimeOffset RenewedAt
    {
        get
        {
            lock (_lock)
            {
                return _renewedAt;
            }
        }
    }

    /// <summary>What the ledger is told of this slice: its settled spend and reservations in flight, read together.</summary>
    public SliceReport Report(int shard)
    {
        lock (_lock)
        {
            return new SliceReport(Id, _renewedAt == default, _settled, _reserved, shard);
        }
    }

    /// <summary>Reserves <paramref name="worst"/> if the lease, granted less than <see cref="BudgetReservations.LeaseTerm"/> ago, covers it.</summary>
    public bool TryReserve(long worst, DateTimeOffset now)
    {
        lock (_lock)
        {
            if (!_granted || now - _renewedAt >= BudgetReservations.LeaseTerm || _settled + _reserved + worst > _leased)
            {
                return false;
            }

            _reserved += worst;
            return true;
        }
    }

    /// <summary>Stops reservations in this slice (its lease becomes what it holds).</summary>
    public void Close()
    {
        lock (_lock)
        {
            _leased = _settled + _reserved;
            _granted = false;
        }
    }

    public void Leased(long leased, DateTimeOffset at)
    {
        lock (_lock)
        {
            (_leased, _granted, _renewedAt) = (leased, true, at);
        }
    }

    public void Settle(long reserved, long actual)
    {
        lock (_lock)
        {
            _reserved -= reserved;
            _settled += actual;
        }
    }
}

/// <summary>A call's reservations; <see cref="Settle"/> turns them into its cost, once.</summary>
internal sealed class BudgetReservation(IReadOnlyList<(BudgetSlice Slice, long Worst)> held)
{
    private int _settled;

    public void Settle(long costNanoUsd)
    {
        if (Interlocked.Exchange(ref _settled, 1) == 1)
        {
            return;
        }

        foreach (var (slice, worst) in held)
        {
            slice.Settle(worst, costNanoUsd);
        }
    }
}
