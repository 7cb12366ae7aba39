using System.Collections.Concurrent;
using Azure;
using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Spend;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// Reserved budgets on this instance (<c>Budgets__&lt;name&gt;__Reserve=true</c>): before a call is forwarded, its worst
/// case is reserved against this instance's slice of each such budget that applies; when it ends, the reservation
/// settles to what it cost. A slice is leased from the <see cref="BudgetLedger"/> and renewed (one storage read and
/// write) only when a call does not fit in it, so most calls pay no storage request. The leases never add up to more
/// than the limit, so the calls' spend never does either, as long as none costs more than its worst case.
/// </summary>
internal sealed partial class BudgetReservations : IHostedService
{
    /// <summary>Part of the limit a renewal takes beyond what the call needs, so the next calls fit without storage.</summary>
    private const int SliceFraction = 20;

    private readonly BudgetLedger _ledger;
    private readonly BudgetRollup _rollup;
    private readonly TimeProvider _time;
    private readonly ILogger<BudgetReservations> _logger;
    private readonly List<(string Name, BudgetOptions Options, BudgetScope Scope, long LimitNanoUsd)> _budgets = [];
    private readonly ConcurrentDictionary<string, Slice> _slices = new(StringComparer.OrdinalIgnoreCase);

    public BudgetReservations(BudgetLedger ledger, BudgetRollup rollup, IOptions<BudgetsOptions> options, TimeProvider time,
        ILogger<BudgetReservations> logger)
    {
        _ledger = ledger;
        _rollup = rollup;
        _time = time;
        _logger = logger;
        foreach (var (name, b) in options.Value.Items)
        {
            if (b.Reserve && BudgetScope.TryParse(b.Scope, out var scope))
            {
                _budgets.Add((name, b, scope, (long)(b.LimitUsd * CostCalculator.NanoPerUsd)));
            }
        }
    }

    public bool Any => _budgets.Count > 0;

    /// <summary>The first reserved budget that applies to a call billed as any of <paramref name="billedAs"/>, if any.</summary>
    public string? AppliesTo(IReadOnlyList<SpendKey> billedAs) =>
        _budgets.FirstOrDefault(b => billedAs.Any(b.Scope.Matches)).Name;

    /// <summary>
    /// Reserves <paramref name="worstNanoUsd"/> in every reserved budget that applies to a call billed as any of
    /// <paramref name="billedAs"/> (its model, or its fallback): the reservation, or the budget that cannot cover it.
    /// Throws <see cref="RequestFailedException"/> when storage cannot be asked or keeps losing races (a reserved budget
    /// fails closed).
    /// </summary>
    public async ValueTask<(BudgetReservation? Reservation, string? RefusedBy, decimal LeftUsd)> ReserveAsync(IReadOnlyList<SpendKey> billedAs,
        long worstNanoUsd, CancellationToken cancellationToken)
    {
        var held = new List<(Slice, long)>();
        try
        {
            foreach (var (name, options, scope, limit) in _budgets)
            {
                if (!billedAs.Any(scope.Matches))
                {
                    continue;
                }

                var (slice, left) = await ReserveInAsync(name, options, limit, worstNanoUsd, cancellationToken).ConfigureAwait(false);
                if (slice is null)
                {
                    Release(held);
                    return (null, name, CostCalculator.ToUsd(left));
                }

                held.Add((slice, worstNanoUsd));
            }
        }
        catch
        {
            Release(held);
            throw;
        }

        return (held.Count == 0 ? null : new BudgetReservation(held), null, 0);
    }

    /// <returns>The slice reserved in, or null and what is left for this instance (−1: the worst case exceeds the limit).</returns>
    private async Task<(Slice? Slice, long LeftNanoUsd)> ReserveInAsync(string name, BudgetOptions options, long limit, long worst,
        CancellationToken cancellationToken)
    {
        if (worst > limit)
        {
            return (null, -1); // also keeps every sum below within range
        }

        // More than one round only when other calls here took what a renewal brought before this one could reserve.
        for (var attempt = 0; attempt < 10; attempt++)
        {
            // Each round in the period it starts in (a call may wait on a renewal across midnight); a slice is replaced
            // only by a later period's, never by an earlier one.
            var period = BudgetPeriod.Current(options.Period, _rollup.Zone, _time.GetUtcNow());
            var slice = _slices.AddOrUpdate(name, _ => new Slice(period), (_, s) => s.Period.Start >= period.Start ? s : new Slice(period));
            if (slice.TryReserve(worst))
            {
                return (slice, 0);
            }

            // One renewal at a time per slice: the calls waiting behind it usually fit in what it brings.
            await slice.Renewing.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (BudgetPeriod.Current(options.Period, _rollup.Zone, _time.GetUtcNow()).Start > slice.Period.Start)
                {
                    continue; // the wait crossed into a new period: the next round reserves there
                }

                if (slice.TryReserve(worst))
                {
                    return (slice, 0);
                }

                var (verdict, leased) = await _ledger.LeaseAsync(name, slice.PeriodKey, limit, slice.Id, slice.IsNew, slice.Holds, worst,
                    Math.Max(worst, limit / SliceFraction), ct => SeedAsync(name, slice.PeriodKey, ct), cancellationToken).ConfigureAwait(false);
                switch (verdict)
                {
                    case LeaseVerdict.Granted:
                        slice.Leased(leased);
                        if (slice.TryReserve(worst))
                        {
                            return (slice, 0);
                        }

                        break;
                    case LeaseVerdict.Refused:
                        LogRefused(_logger, name, worst, leased);
                        return (null, leased);
                    case LeaseVerdict.Gone:
                        _slices.TryUpdate(name, new Slice(slice.Period), slice);
                        break;
                }
            }
            finally
            {
                slice.Renewing.Release();
            }
        }

        // Ten renewals each taken by other calls before this one: the ledger is too contended to answer now.
        throw new RequestFailedException(503, $"Budget '{name}': ten renewals of this instance's slice were used up by other calls first.");
    }

    /// <summary>
    /// A new period's ledger starts from the spend recorded before it existed: what the last rollup counted for the period,
    /// or, when no rollup has (the budget was just added), the period's recorded spend computed as a rollup would.
    /// </summary>
    private async Task<long> SeedAsync(string name, string periodKey, CancellationToken cancellationToken)
    {
        var rows = await _rollup.ReadCurrentAsync(cancellationToken).ConfigureAwait(false);
        if (rows.TryGetValue(name, out var row) && row.PeriodKey == periodKey)
        {
            return (long)(row.SpentUsd * CostCalculator.NanoPerUsd);
        }

        var computed = await _rollup.ComputeAsync(cancellationToken).ConfigureAwait(false);
        return computed.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase) && s.Period.Key == periodKey)?.SpentNanoUsd ?? 0;
    }

    private static void Release(List<(Slice Slice, long Worst)> held)
    {
        foreach (var (slice, worst) in held)
        {
            slice.Settle(worst, 0);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Gives back what this instance's slices do not hold, so other instances can use it at once.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var (name, slice) in _slices)
        {
            var budget = _budgets.FirstOrDefault(b => string.Equals(b.Name, name, StringComparison.OrdinalIgnoreCase));
            if (slice.IsNew || budget.Name is null)
            {
                continue;
            }

            // Close the slice first, under its renewal lock: no call reserves in it again, and no renewal races the release.
            await slice.Renewing.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var holds = slice.Close();
                await _ledger.LeaseAsync(name, slice.PeriodKey, budget.LimitNanoUsd, slice.Id, sliceIsNew: false, holds, 0, 0,
                    _ => Task.FromResult(0L), cancellationToken, release: true).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RequestFailedException or OperationCanceledException or HttpRequestException)
            {
                LogReleaseFailed(_logger, name, ex.GetType().Name); // its lease stays counted: the budget blocks early, never late
            }
            finally
            {
                slice.Renewing.Release();
            }
        }
    }

    /// <summary>This instance's lease of one budget for one period, and what it holds of it.</summary>
    internal sealed class Slice(BudgetPeriod period)
    {
        private readonly Lock _lock = new();
        private long _leased;
        private long _settled;
        private long _reserved;
        private bool _granted;

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
                    return !_granted;
                }
            }
        }

        /// <summary>Settled spend and reservations in flight.</summary>
        public long Holds
        {
            get
            {
                lock (_lock)
                {
                    return _settled + _reserved;
                }
            }
        }

        public bool TryReserve(long worst)
        {
            lock (_lock)
            {
                if (!_granted || _settled + _reserved + worst > _leased)
                {
                    return false;
                }

                _reserved += worst;
                return true;
            }
        }

        /// <summary>Stops reservations in this slice (its lease becomes what it holds) and returns what it holds.</summary>
        public long Close()
        {
            lock (_lock)
            {
                _leased = _settled + _reserved;
                _granted = false;
                return _leased;
            }
        }

        public void Leased(long leased)
        {
            lock (_lock)
            {
                (_leased, _granted) = (leased, true);
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

    [LoggerMessage(EventId = 7301, Level = LogLevel.Information,
        Message = "Reserved budget {Budget} cannot cover a call's worst case of {WorstNanoUsd} nano-USD ({LeftNanoUsd} left for this instance).")]
    private static partial void LogRefused(ILogger logger, string budget, long worstNanoUsd, long leftNanoUsd);

    [LoggerMessage(EventId = 7302, Level = LogLevel.Warning, Message = "Could not give back the unused lease of budget {Budget} ({Error}).")]
    private static partial void LogReleaseFailed(ILogger logger, string budget, string error);
}

/// <summary>A call's reservations; <see cref="Settle"/> turns them into its cost, once.</summary>
internal sealed class BudgetReservation(IReadOnlyList<(BudgetReservations.Slice Slice, long Worst)> held)
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
