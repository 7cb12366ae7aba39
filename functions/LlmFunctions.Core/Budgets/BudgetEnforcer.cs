using System.Globalization;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// Budget enforcement at the proxy, without a storage round trip per call.
/// <para>Spend of a budget = the last rollup's figure (re-read in the background every <c>Budgets__RefreshSeconds</c>,
/// and taken at once from this instance's own rollup runs) + what this instance itself recorded since that rollup
/// (<see cref="LocalSpend"/>, O(1) per call). A call is judged against that figure: <c>block</c> answers 429,
/// <c>downgrade</c> swaps the model, <c>shadow</c> only records that it would have blocked; every call learns the
/// tightest remaining budget that applies to it.</para>
/// <para>Other instances' spend counts here once a rollup has counted it and this instance has read that rollup:
/// the worst-case overshoot is in docs/architecture.md. A cold instance's calls wait for its first read (a round trip
/// or two, <see cref="FirstReadWait"/> at most): only when that read fails or is slower are they let through unjudged.
/// It fails open then, because a metering proxy must not stop traffic when storage is slow or down.</para>
/// </summary>
internal sealed partial class BudgetEnforcer : IBudgetGate
{
    private readonly BudgetSpend _spend;
    private readonly RollupRows _rows;
    private readonly TimeZoneInfo _zone;
    private readonly BudgetReservations _reservations;
    private readonly PriceTable _prices;
    private readonly TimeProvider _time;
    private readonly ILogger<BudgetEnforcer> _logger;
    private readonly BudgetsOptions _options;
    private readonly TimeSpan _refreshInterval;
    private readonly FallbackModels _fallbacks;
    private readonly ConfiguredBudgets _configured;
    private volatile Tracked _budgets = new(long.MinValue, []);
    private readonly Lock _applyLock = new();
    private volatile Dictionary<string, (string PeriodKey, decimal SpentUsd, DateTimeOffset UpdatedAt)>? _rollups;
    private readonly TaskCompletionSource _firstRead = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _nextRefreshTicks;
    private int _refreshing;

    /// <summary>How long a cold instance's calls wait for its first read of the rollup rows.</summary>
    internal static readonly TimeSpan FirstReadWait = TimeSpan.FromSeconds(2);

    public BudgetEnforcer(BudgetSpend spend, RollupRows rows, ConfiguredBudgets budgets, BudgetReservations reservations, PriceTable prices,
        IOptions<BudgetsOptions> options, FallbackModels fallbacks, TimeProvider time, ILogger<BudgetEnforcer> logger)
    {
        _fallbacks = fallbacks;
        _spend = spend;
        _rows = rows;
        _zone = budgets.Zone;
        _reservations = reservations;
        _prices = prices;
        _time = time;
        _logger = logger;
        _options = options.Value;
        _refreshInterval = TimeSpan.FromSeconds(_options.RefreshSeconds);
        _configured = budgets;
    }

    /// <summary>
    /// Every budget, notify ones too (a call's remaining budget is the tightest of all that apply to it), each with what
    /// this instance spent in it; rebuilt when a key's budget changes, keeping the spend of those that stay.
    /// </summary>
    private List<(string Name, BudgetOptions Options, BudgetScope Scope, LocalSpend Local)> ActiveBudgets
    {
        get
        {
            var current = _budgets;
            var set = _configured.Current;
            if (current.Version == set.Version)
            {
                return current.List;
            }

            lock (_applyLock)
            {
                var kept = _budgets.List.ToDictionary(b => b.Name, b => b.Local, StringComparer.OrdinalIgnoreCase);
                var list = set.Items.Select(b => (b.Name, b.Options, b.Scope, kept.GetValueOrDefault(b.Name) ?? new LocalSpend())).ToList();
                _budgets = new Tracked(set.Version, list);
                return list;
            }
        }
    }

    /// <summary>
    /// <see cref="Check"/>, then, for a call it lets through, its worst case reserved in every reserved budget that applies
    /// (<see cref="BudgetReservations"/>): a reservation the caller settles when the call ends, or a block when the budget
    /// cannot cover it. A reserved budget fails closed: when its ledger cannot be read, the call is not forwarded.
    /// </summary>
    public async ValueTask<BudgetDecision> CheckAsync(SpendKey call, CallSize size, CancellationToken cancellationToken)
    {
        if (_rollups is null && !_firstRead.Task.IsCompleted && ActiveBudgets.Count > 0)
        {
            await FirstReadAsync(cancellationToken).ConfigureAwait(false);
        }

        var decision = Check(call, size);
        if (!_reservations.Any || decision.Verdict is BudgetVerdict.Block or BudgetVerdict.TooExpensive)
        {
            return decision;
        }

        // The call may be billed at its model or, when every upstream of that fails, at its fallback's (looked up and
        // priced by the names the client and settings use; keyed by their canonical names, as the call's own key is).
        var model = decision.Verdict == BudgetVerdict.Downgrade ? decision.DowngradeTo! : size.Model ?? call.Model;
        string[] models = _fallbacks.TryGet(model, out var fallback) ? [model, fallback] : [model];
        var billedAs = models.Select(m => call with { Model = AggregateState.Label(_prices.Canonical(m)) }).ToArray();
        if (_reservations.AppliesTo(billedAs) is not { } budget)
        {
            return decision;
        }

        if (size.HasStoredInput)
        {
            return ReservedRefusals.StoredInput(budget);
        }

        var (worst, unpriced) = Worst(models, size);
        if (unpriced is not null)
        {
            return ReservedRefusals.Unpriced(budget, unpriced);
        }

        try
        {
            var (reservation, refusedBy, leftUsd) = await _reservations.ReserveAsync(billedAs, worst, cancellationToken).ConfigureAwait(false);
            if (refusedBy is null)
            {
                return decision with { Reservation = reservation };
            }

            // The budget as it was when reserved in: a key's budget may have gone since.
            var options = _configured.Find(refusedBy)?.Options ?? new BudgetOptions { Scope = "key", LimitUsd = 0 };
            return ReservedRefusals.CannotCover(refusedBy, options, BudgetPeriod.Current(options.Period, _zone, _time.GetUtcNow()), worst, billedAs,
                size.PromptBytes, size.OutputTokens(_options.DefaultMaxOutputTokens), leftUsd);
        }
        catch (Exception ex) when (ex is Azure.RequestFailedException or HttpRequestException
            || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            LogLedgerFailed(_logger, ex.GetType().Name);
            return new BudgetDecision(BudgetVerdict.Unavailable,
                "A reserved budget applies to this call and its ledger could not be read; the call was not forwarded. Try again.");
        }
    }

    /// <summary>
    /// The most the call can cost at any model it may be billed at: every prompt byte a token (no text prompt has more),
    /// at the dearer of the input and cache-write prices, and every choice writing its output cap. Or the first model
    /// without a price.
    /// </summary>
    private (long WorstNanoUsd, string? Unpriced) Worst(string[] models, CallSize size)
    {
        var outputTokens = size.OutputTokens(_options.DefaultMaxOutputTokens);
        long worst = 0;
        foreach (var model in models)
        {
            if (!_prices.TryGetPrice(model, out var price))
            {
                return (0, model);
            }

            // Prompt tokens written to a provider's cache may cost more than plain input.
            worst = Math.Max(worst, Math.Max(CostCalculator.CostNanoUsd(price, size.PromptBytes, 0, outputTokens),
                CostCalculator.CostNanoUsd(price, size.PromptBytes, 0, outputTokens, cacheWriteTokens: size.PromptBytes)));
        }

        return (worst, null);
    }

    /// <summary>The judgment from spend so far (rollups and this instance), without reservations.</summary>
    public BudgetDecision Check(SpendKey call, CallSize size)
    {
        if (TooExpensive(call.Model, size) is { } refused)
        {
            return refused;
        }

        if (ActiveBudgets.Count == 0)
        {
            return BudgetDecision.Allow;
        }

        RefreshIfDue();
        var rollups = _rollups;
        return rollups is null ? BudgetDecision.Allow : Judge(call, rollups);
    }

    /// <summary>
    /// Waits (<see cref="FirstReadWait"/> at most) for this instance's first read of the rollup rows, so that a cold
    /// instance (a restart, a scale-out) does not let a budget's calls through unjudged while it reads.
    /// </summary>
    private async Task FirstReadAsync(CancellationToken cancellationToken)
    {
        RefreshIfDue();
        try
        {
            await _firstRead.Task.WaitAsync(FirstReadWait, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Storage is slow: judged by what this instance has (nothing yet), as when it is down.
        }
    }

    /// <summary>A refusal when the call's worst case costs more than <c>Budgets__MaxCostPerCallUsd</c>, else null.</summary>
    private BudgetDecision? TooExpensive(string model, CallSize size)
    {
        if (_options.MaxCostPerCallUsd is not { } max || !_prices.TryGetPrice(model, out var price))
        {
            return null;
        }

        var outputTokens = size.OutputTokens(_options.DefaultMaxOutputTokens);
        var inputTokens = size.EstimateInputTokens();
        var worst = CostCalculator.ToUsd(CostCalculator.CostNanoUsd(price, inputTokens, 0, outputTokens));
        if (worst <= max)
        {
            return null;
        }

        var estimate = string.Create(CultureInfo.InvariantCulture,
            $"${worst:0.####} ({model}, ~{inputTokens} input tokens, up to {outputTokens} output tokens)");
        return new BudgetDecision(BudgetVerdict.TooExpensive, string.Create(CultureInfo.InvariantCulture,
            $"This call could cost up to {estimate}, above the limit of ${max:0.####} per call (Budgets__MaxCostPerCallUsd). "
            + $"Lower max_tokens or the prompt size."));
    }

    /// <summary>
    /// The call against every budget that applies to it: the first exhausted <c>block</c> budget refuses it, the first
    /// exhausted <c>downgrade</c> one swaps its model; exhausted <c>shadow</c> budgets are named, and the tightest
    /// remaining figure goes with the decision.
    /// </summary>
    private BudgetDecision Judge(SpendKey call, Dictionary<string, (string PeriodKey, decimal SpentUsd, DateTimeOffset UpdatedAt)> rollups)
    {
        var now = _time.GetUtcNow();
        BudgetDecision decision = BudgetDecision.Allow;
        decimal? remaining = null;
        List<string>? shadowed = null;
        foreach (var (name, options, scope, local) in ActiveBudgets)
        {
            if (!scope.Matches(call))
            {
                continue;
            }

            var period = BudgetPeriod.Current(options.Period, _zone, now);
            var spent = Spent(rollups, name, period, local);
            var left = Math.Max(0, options.LimitUsd - spent);
            remaining = remaining is { } tightest && tightest <= left ? tightest : left;
            if (spent < options.LimitUsd)
            {
                continue;
            }

            switch (options.Action.ToLowerInvariant())
            {
                case "block":
                    return new BudgetDecision(BudgetVerdict.Block,
                        string.Create(CultureInfo.InvariantCulture,
                            $"Budget '{name}' ({scope}, {period.Kind}) is exhausted: ${spent:0.00} of ${options.LimitUsd:0.00} spent. "
                            + $"It resets at {period.End:yyyy-MM-dd HH:mm} UTC."),
                        ResetsAt: period.End, RemainingUsd: 0);
                case "downgrade" when decision.Verdict == BudgetVerdict.Allow
                    && !string.Equals(options.DowngradeTo, call.Model, StringComparison.OrdinalIgnoreCase):
                    decision = new BudgetDecision(BudgetVerdict.Downgrade, DowngradeTo: options.DowngradeTo);
                    break;
                case "shadow":
                    (shadowed ??= []).Add(name);
                    break;
            }
        }

        return decision with { RemainingUsd = remaining, ShadowBlocked = shadowed is null ? null : string.Join(',', shadowed) };
    }

    /// <summary>A budget's spend in its period: the last rollup's figure when it is of this period, plus what this
    /// instance recorded since that rollup (since the period's start without one).</summary>
    private static decimal Spent(Dictionary<string, (string PeriodKey, decimal SpentUsd, DateTimeOffset UpdatedAt)> rollups, string name,
        BudgetPeriod period, LocalSpend local)
    {
        var spent = 0m;
        var since = period.Start;
        if (rollups.TryGetValue(name, out var row) && row.PeriodKey == period.Key)
        {
            spent = row.SpentUsd;
            since = row.UpdatedAt;
        }

        return spent + CostCalculator.ToUsd(local.Since(since, period.Start));
    }

    /// <summary>Takes the figures of a rollup this instance just wrote, so its own run applies a block at once.</summary>
    internal void Apply(IEnumerable<BudgetStatus> statuses)
    {
        var fresh = statuses.ToDictionary(s => s.Name, s => (s.Period.Key, s.SpentUsd, s.UpdatedAt), StringComparer.OrdinalIgnoreCase);
        Merge(fresh);
    }

    /// <summary>Takes rows that are newer than what this instance knows, never older ones, whichever arrives last.</summary>
    private void Merge(Dictionary<string, (string PeriodKey, decimal SpentUsd, DateTimeOffset UpdatedAt)> fresh)
    {
        lock (_applyLock)
        {
            var merged = _rollups is { } known
                ? new Dictionary<string, (string PeriodKey, decimal SpentUsd, DateTimeOffset UpdatedAt)>(known, StringComparer.OrdinalIgnoreCase)
                : new Dictionary<string, (string PeriodKey, decimal SpentUsd, DateTimeOffset UpdatedAt)>(StringComparer.OrdinalIgnoreCase);
            foreach (var (name, row) in fresh)
            {
                if (!merged.TryGetValue(name, out var current) || row.UpdatedAt >= current.UpdatedAt)
                {
                    merged[name] = row;
                }
            }

            _rollups = merged;
        }
    }

    /// <summary>Counts a record of this instance once it is durable (the host wires this to the record writer).</summary>
    public void OnDurable(CallRecord r)
    {
        var budgets = ActiveBudgets;
        if (r.CostNanoUsd == 0 || budgets.Count == 0)
        {
            return;
        }

        var durableAt = _time.GetUtcNow();
        var key = SpendKey.Of(r);
        foreach (var (_, _, scope, local) in budgets)
        {
            if (scope.Matches(key))
            {
                local.Add(durableAt, r.CostNanoUsd);
            }
        }
    }

    private void RefreshIfDue()
    {
        var now = _time.GetUtcNow().UtcTicks;
        if (now < Interlocked.Read(ref _nextRefreshTicks) || Interlocked.Exchange(ref _refreshing, 1) == 1)
        {
            return;
        }

        _ = RefreshAsync();
    }

    /// <summary>Re-reads the rollup rows (a cache refresh, off the call path).</summary>
    internal async Task RefreshAsync()
    {
        try
        {
            var rows = await _rows.ReadCurrentAsync(CancellationToken.None).ConfigureAwait(false);
            Merge(rows);
            if (ActiveBudgets.Any(b => !rows.TryGetValue(b.Name, out var row)
                || row.PeriodKey != BudgetPeriod.Current(b.Options.Period, _zone, _time.GetUtcNow()).Key))
            {
                // A budget no rollup has counted in this period yet (added by a restart, or the period just began) starts
                // from the period's recorded spend, as /spend/me reads it, not from 0: once per budget and period here.
                Apply(await _spend.ComputeAsync(CancellationToken.None).ConfigureAwait(false));
            }
        }
        catch (Exception ex)
        {
            LogRefreshFailed(_logger, ex.GetType().Name);
        }
        finally
        {
            Interlocked.Exchange(ref _nextRefreshTicks, (_time.GetUtcNow() + _refreshInterval).UtcTicks);
            Interlocked.Exchange(ref _refreshing, 0);
            _firstRead.TrySetResult(); // read or failed: a cold instance's calls wait no longer
        }
    }

    private sealed record Tracked(long Version, List<(string Name, BudgetOptions Options, BudgetScope Scope, LocalSpend Local)> List);

    [LoggerMessage(EventId = 7202, Level = LogLevel.Warning, Message = "A reserved budget's ledger could not be read ({Error}); the call is refused.")]
    private static partial void LogLedgerFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 7201, Level = LogLevel.Warning, Message = "Could not read budget rollups ({Error}); enforcing with the last known figures.")]
    private static partial void LogRefreshFailed(ILogger logger, string error);
}

