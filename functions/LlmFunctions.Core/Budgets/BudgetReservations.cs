using System.Collections.Concurrent;
using Azure;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Records;
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
internal sealed partial class BudgetReservations : IHostedService, IDisposable
{
    /// <summary>Part of the limit a renewal takes beyond what the call needs, so the next calls fit without storage.</summary>
    private const int SliceFraction = 20;

    /// <summary>How long after its last renewal a slice takes reservations: then it renews first, so a slice the ledger
    /// may take for dead (<see cref="BudgetLedger.CompactAfter"/>) is never reserved in.</summary>
    internal static readonly TimeSpan LeaseTerm = TimeSpan.FromMinutes(5);

    /// <summary>A slice with calls in flight renews this long after its last renewal, so it is never taken for dead.</summary>
    internal static readonly TimeSpan TouchAfter = TimeSpan.FromMinutes(2);

    private static readonly TimeSpan TouchEvery = TimeSpan.FromSeconds(30);

    private readonly BudgetLedger _ledger;
    private readonly BudgetSpend _spend;
    private readonly RollupRows _rows;
    private readonly TimeZoneInfo _zone;
    private readonly TimeProvider _time;
    private readonly int _shard;
    private readonly ILogger<BudgetReservations> _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task _touching = Task.CompletedTask;
    private readonly ConfiguredBudgets _configured;
    private volatile Reserved _reserved = new(long.MinValue, []);
    private readonly ConcurrentDictionary<string, BudgetSlice> _slices = new(StringComparer.OrdinalIgnoreCase);

    public BudgetReservations(BudgetLedger ledger, BudgetSpend spend, RollupRows rows, ConfiguredBudgets budgets, RecordShard shard,
        TimeProvider time, ILogger<BudgetReservations> logger)
    {
        _ledger = ledger;
        _spend = spend;
        _rows = rows;
        _zone = budgets.Zone;
        _time = time;
        _shard = shard.Value;
        _logger = logger;
        _configured = budgets;
    }

    /// <summary>The reserved budgets now (a key's budget may be one), rebuilt when the keys change.</summary>
    private List<(string Name, BudgetOptions Options, BudgetScope Scope, long LimitNanoUsd)> ActiveBudgets
    {
        get
        {
            var reserved = _reserved;
            var set = _configured.Current;
            if (reserved.Version != set.Version)
            {
                _reserved = reserved = new Reserved(set.Version,
                    [.. set.Items.Where(b => b.Options.Reserve).Select(b => (b.Name, b.Options, b.Scope, b.LimitNanoUsd))]);
            }

            return reserved.List;
        }
    }

    private sealed record Reserved(long Version, List<(string Name, BudgetOptions Options, BudgetScope Scope, long LimitNanoUsd)> List);

    public bool Any => ActiveBudgets.Count > 0;

    /// <summary>The first reserved budget that applies to a call billed as any of <paramref name="billedAs"/>, if any.</summary>
    public string? AppliesTo(IReadOnlyList<SpendKey> billedAs) =>
        ActiveBudgets.FirstOrDefault(b => billedAs.Any(b.Scope.Matches)).Name;

    /// <summary>
    /// Reserves <paramref name="worstNanoUsd"/> in every reserved budget that applies to a call billed as any of
    /// <paramref name="billedAs"/> (its model, or its fallback): the reservation, or the budget that cannot cover it.
    /// Throws <see cref="RequestFailedException"/> when storage cannot be asked or keeps losing races (a reserved budget
    /// fails closed).
    /// </summary>
    public async ValueTask<(BudgetReservation? Reservation, string? RefusedBy, decimal LeftUsd)> ReserveAsync(IReadOnlyList<SpendKey> billedAs,
        long worstNanoUsd, CancellationToken cancellationToken)
    {
        var held = new List<(BudgetSlice, long)>();
        try
        {
            foreach (var (name, options, scope, limit) in ActiveBudgets)
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
    private async Task<(BudgetSlice? Slice, long LeftNanoUsd)> ReserveInAsync(string name, BudgetOptions options, long limit, long worst,
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
            var period = BudgetPeriod.Current(options.Period, _zone, _time.GetUtcNow());
            var slice = _slices.AddOrUpdate(name, _ => new BudgetSlice(period), (_, s) => s.Period.Start >= period.Start ? s : new BudgetSlice(period));
            if (slice.TryReserve(worst, _time.GetUtcNow()))
            {
                return (slice, 0);
            }

            // One renewal at a time per slice: the calls waiting behind it usually fit in what it brings.
            await slice.Renewing.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (BudgetPeriod.Current(options.Period, _zone, _time.GetUtcNow()).Start > slice.Period.Start)
                {
                    continue; // the wait crossed into a new period: the next round reserves there
                }

                if (slice.TryReserve(worst, _time.GetUtcNow()))
                {
                    return (slice, 0);
                }

                var (verdict, leased) = await _ledger.LeaseAsync(name, slice.PeriodKey, limit, slice.Report(_shard), worst,
                    Math.Max(worst, limit / SliceFraction), ct => SeedAsync(name, slice.PeriodKey, ct), cancellationToken).ConfigureAwait(false);
                switch (verdict)
                {
                    case LeaseVerdict.Granted:
                        slice.Leased(leased, _time.GetUtcNow());
                        if (slice.TryReserve(worst, _time.GetUtcNow()))
                        {
                            return (slice, 0);
                        }

                        break;
                    case LeaseVerdict.Refused:
                        LogRefused(_logger, name, worst, leased);
                        return (null, leased);
                    case LeaseVerdict.Gone:
                        _slices.TryUpdate(name, new BudgetSlice(slice.Period), slice);
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
        var rows = await _rows.ReadCurrentAsync(cancellationToken).ConfigureAwait(false);
        if (rows.TryGetValue(name, out var row) && row.PeriodKey == periodKey)
        {
            return (long)(row.SpentUsd * CostCalculator.NanoPerUsd);
        }

        var computed = await _spend.ComputeAsync(cancellationToken).ConfigureAwait(false);
        return computed.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase) && s.Period.Key == periodKey)?.SpentNanoUsd ?? 0;
    }

    private static void Release(List<(BudgetSlice Slice, long Worst)> held)
    {
        foreach (var (slice, worst) in held)
        {
            slice.Settle(worst, 0);
        }
    }

    /// <summary>The limit of the reserved budget a slice was taken for (slices are kept by budget name).</summary>
    private bool TryLimitOf(string name, out long limitNanoUsd)
    {
        var budget = ActiveBudgets.FirstOrDefault(b => string.Equals(b.Name, name, StringComparison.OrdinalIgnoreCase));
        limitNanoUsd = budget.LimitNanoUsd;
        return budget.Name is not null;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Any)
        {
            _touching = TouchLoopAsync(_stopping.Token);
        }

        return Task.CompletedTask;
    }

    private async Task TouchLoopAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TouchEvery, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await TouchAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Renews each slice that has calls in flight and was last renewed <see cref="TouchAfter"/> ago or more.</summary>
    internal async Task TouchAsync(CancellationToken cancellationToken)
    {
        foreach (var (name, slice) in _slices)
        {
            if (!TryLimitOf(name, out var limit) || slice.IsNew || slice.Reserved == 0 || _time.GetUtcNow() - slice.RenewedAt < TouchAfter)
            {
                continue;
            }

            await slice.Renewing.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var (verdict, leased) = await _ledger.LeaseAsync(name, slice.PeriodKey, limit, slice.Report(_shard), 0, 0,
                    _ => Task.FromResult(0L), cancellationToken).ConfigureAwait(false);
                if (verdict == LeaseVerdict.Granted)
                {
                    slice.Leased(leased, _time.GetUtcNow());
                }
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // Any failure (a storage timeout surfaces as a cancellation of its own): the other slices, and the next
                // tick, try again; a loop that ended here would let a live slice be taken for dead.
                LogTouchFailed(_logger, ex.GetType().Name);
            }
            finally
            {
                slice.Renewing.Release();
            }
        }
    }

    /// <summary>
    /// Gives back what dead slices (instances that stopped without releasing theirs) leased and did not spend, in every
    /// reserved budget's current period: run by the budget timer.
    /// </summary>
    public async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        foreach (var (name, options, scope, _) in ActiveBudgets)
        {
            var period = BudgetPeriod.Current(options.Period, _zone, _time.GetUtcNow());
            var freed = await _ledger.ReconcileAsync(name, period.Key, scope, cancellationToken).ConfigureAwait(false);
            if (freed > 0)
            {
                LogReconciled(_logger, name, freed);
            }
        }
    }

    public void Dispose() => _stopping.Dispose();

    /// <summary>Gives back what this instance's slices do not hold, so other instances can use it at once.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _touching.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var (name, slice) in _slices)
        {
            if (slice.IsNew || !TryLimitOf(name, out var limit))
            {
                continue;
            }

            // Close the slice first, under its renewal lock: no call reserves in it again, and no renewal races the release.
            await slice.Renewing.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                slice.Close();
                await _ledger.LeaseAsync(name, slice.PeriodKey, limit, slice.Report(_shard), 0, 0,
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

    [LoggerMessage(EventId = 7301, Level = LogLevel.Information,
        Message = "Reserved budget {Budget} cannot cover a call's worst case of {WorstNanoUsd} nano-USD ({LeftNanoUsd} left for this instance).")]
    private static partial void LogRefused(ILogger logger, string budget, long worstNanoUsd, long leftNanoUsd);

    [LoggerMessage(EventId = 7302, Level = LogLevel.Warning, Message = "Could not give back the unused lease of budget {Budget} ({Error}).")]
    private static partial void LogReleaseFailed(ILogger logger, string budget, string error);

    [LoggerMessage(EventId = 7303, Level = LogLevel.Warning,
        Message = "Could not renew a reserved budget's slice with calls in flight ({Error}); the next tick tries again.")]
    private static partial void LogTouchFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 7304, Level = LogLevel.Information,
        Message = "Reserved budget {Budget}: {FreedNanoUsd} nano-USD that stopped instances had leased and not spent is free again.")]
    private static partial void LogReconciled(ILogger logger, string budget, long freedNanoUsd);
}
