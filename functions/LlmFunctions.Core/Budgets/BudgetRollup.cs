using Azure;
using Azure.Data.Tables;
using LlmFunctions.Core.Metrics;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// The budget timer's work (the <c>BudgetRollup</c> function, or a hosted service on the local host).
/// <code>
/// (1) advance the fold ─► (2) spend per budget = folded 15-minute slots since the period start + the live tail
/// ─► (3) write one LlmRollups row per budget and period ─► (4) for each threshold crossed: claim it with a
/// conditional insert into LlmBudgetEvents (only one instance wins) ─► (5) deliver the claimed and any pending
/// earlier events, each under a lease (ETag), recording per-webhook outcome and retrying with backoff
/// </code>
/// Exactly one message per (budget, period, threshold) and webhook, however many instances run this at once:
/// the insert is the claim, the lease stops two instances delivering the same pending event, and a delivery is
/// marked done per webhook so a retry only re-sends to the ones that failed.
/// </summary>
internal sealed partial class BudgetRollup(
    AggregateFolder folder,
    TableStore store,
    WebhookSender sender,
    IOptions<BudgetsOptions> budgetOptions,
    IOptions<Dictionary<string, WebhookOptions>> webhookOptions,
    TimeProvider time,
    ILogger<BudgetRollup> logger) : IBudgetGaugeSource
{
    private readonly BudgetsOptions _budgets = budgetOptions.Value;
    private readonly Dictionary<string, WebhookOptions> _webhooks = webhookOptions.Value;
    private readonly TimeZoneInfo _zone = budgetOptions.Value.Zone;

    /// <summary>"Not leased": the earliest time Table Storage stores (1601) would do; any past time works.</summary>

    /// <summary>First retry delay of a failed delivery; doubles per attempt up to an hour.</summary>
    internal TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a delivering instance holds an event before another may take it over.</summary>
    internal TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(2);

    public TimeZoneInfo Zone => _zone;

    /// <param name="written">Called once every budget's row is written, before notifications are claimed and sent:
    /// where this instance's own enforcement takes the new figures, so webhook latency never delays a block.</param>
    public async Task<IReadOnlyList<BudgetStatus>> RunAsync(CancellationToken cancellationToken, Action<IReadOnlyList<BudgetStatus>>? written = null)
    {
        // (1)
        await folder.FoldAsync(cancellationToken).ConfigureAwait(false);
        var statuses = await ComputeAsync(cancellationToken).ConfigureAwait(false);

        // (3)
        foreach (var status in statuses)
        {
            await WriteRollupAsync(status, cancellationToken).ConfigureAwait(false);
        }

        written?.Invoke(statuses);
        foreach (var status in statuses)
        {
            // (4)
            foreach (var threshold in BudgetThresholds.Parse(status.Options.Thresholds) ?? [])
            {
                if (status.Percent >= threshold)
                {
                    await ClaimAsync(status, threshold, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        if (_budgets.DailySummary && _webhooks.Count > 0)
        {
            await ClaimDailySummaryAsync(cancellationToken).ConfigureAwait(false);
        }

        // (5)
        await DeliverPendingAsync(cancellationToken).ConfigureAwait(false);
        return statuses;
    }

    /// <summary>(2) Spend per budget for its current period.</summary>
    public async Task<IReadOnlyList<BudgetStatus>> ComputeAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var periods = new Dictionary<string, BudgetPeriod>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, options) in _budgets.Items)
        {
            periods[name] = BudgetPeriod.Current(options.Period, _zone, now);
        }

        if (periods.Count == 0)
        {
            return [];
        }

        // One read of the slots from the earliest period start, with the tail that starts where they end; each slot
        // counts for every period that started in or before it.
        var spendSince = periods.Values.Select(p => p.Start).Distinct().ToDictionary(
            start => start, start => (FirstSlot: RecordKeys.ParseMinute(AggregateFolder.SlotOf(start)), Spend: new Dictionary<Spend.SpendKey, long>()));
        var snapshot = await folder.ReadFoldedAsync(spendSince.Keys.Min(), now.AddMinutes(15), (slot, usage) =>
        {
            foreach (var (firstSlot, spend) in spendSince.Values)
            {
                if (slot >= firstSlot)
                {
                    Spend.UsageSums.AddCosts(spend, usage);
                }
            }
        }, cancellationToken).ConfigureAwait(false);
        foreach (var (start, (_, spend)) in spendSince)
        {
            snapshot.TailSpend.AddSince(start, spend);
        }

        var result = new List<BudgetStatus>(_budgets.Items.Count);
        foreach (var (name, options) in _budgets.Items)
        {
            if (!BudgetScope.TryParse(options.Scope, out var scope))
            {
                continue; // Rejected at start by BudgetsValidator.
            }

            var period = periods[name];
            var spend = spendSince[period.Start].Spend;

            // Stamped when the tail read began: a record durable after it counts at the enforcer, not twice.
            var breakdown = SpendBreakdown.Of(spend, scope, top: 3);
            result.Add(new BudgetStatus(name, options, scope, period, breakdown.TotalNanoUsd, snapshot.TailReadAt, breakdown.TopModels, breakdown.TopClients));
        }

        return result;
    }

    /// <summary>Budget gauges for <c>/metrics</c>, from the rollup rows (no record scan).</summary>
    public async Task<IReadOnlyList<BudgetGauge>> GetAsync(CancellationToken cancellationToken)
    {
        if (_budgets.Items.Count == 0)
        {
            return [];
        }

        var now = time.GetUtcNow();
        var rows = await ReadCurrentAsync(cancellationToken).ConfigureAwait(false);
        var gauges = new List<BudgetGauge>(_budgets.Items.Count);
        foreach (var (name, options) in _budgets.Items)
        {
            var period = BudgetPeriod.Current(options.Period, _zone, now);
            var spent = rows.TryGetValue(name, out var row) && row.PeriodKey == period.Key ? row.SpentUsd : 0;
            gauges.Add(new BudgetGauge(name, options.Scope, period.Kind, (double)spent, (double)options.LimitUsd, (period.End - now).TotalSeconds));
        }

        return gauges;
    }

    /// <summary>
    /// The latest rollup row of each configured budget (<c>RowKey = current</c>): one point read per budget, so the cost
    /// of every refresh and scrape does not grow with the rows history leaves in the table.
    /// </summary>
    internal async Task<Dictionary<string, (string PeriodKey, decimal SpentUsd, DateTimeOffset UpdatedAt)>> ReadCurrentAsync(
        CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var reads = _budgets.Items.Keys.Select(name => store.Rollups.GetAsync(name, RollupRow.CurrentRowKey, select: null, cancellationToken)).ToList();
        var result = new Dictionary<string, (string, decimal, DateTimeOffset)>(StringComparer.OrdinalIgnoreCase);
        foreach (var entity in await Task.WhenAll(reads).ConfigureAwait(false))
        {
            if (entity is not null)
            {
                var row = RollupRow.FromEntity(entity);
                result[row.PartitionKey] = (row.PeriodKey, Pricing.CostCalculator.ToUsd(row.SpentNanoUsd), row.UpdatedAt);
            }
        }

        return result;
    }

    private async Task WriteRollupAsync(BudgetStatus s, CancellationToken cancellationToken)
    {
        // One row per budget and period (history), and "current" for cheap reads by the proxy and /metrics.
        await store.Rollups.SubmitAsync(
        [
            new TableTransactionAction(TableTransactionActionType.UpsertReplace, RollupRow.From(s, $"{s.Period.Kind}-{s.Period.Key}").ToEntity()),
            new TableTransactionAction(TableTransactionActionType.UpsertReplace, RollupRow.From(s, RollupRow.CurrentRowKey).ToEntity()),
        ], cancellationToken).ConfigureAwait(false);
    }

    private async Task ClaimAsync(BudgetStatus s, int threshold, CancellationToken cancellationToken)
    {
        var n = new BudgetNotification
        {
            Kind = BudgetNotification.ThresholdKind,
            Budget = s.Name,
            Scope = s.Scope.ToString(),
            Period = s.Period.Kind,
            PeriodKey = s.Period.Key,
            SpentUsd = s.SpentUsd,
            LimitUsd = s.Options.LimitUsd,
            Percent = s.Percent,
            Threshold = threshold,
            Action = s.Options.Action,
            ResetsAt = s.Period.End,
            TimeZone = _budgets.TimeZone,
            TopModels = SpendBreakdown.Usd(s.TopModels),
            TopClients = SpendBreakdown.Usd(s.TopClients),
        };
        if (await TryClaimAsync(s.Name, $"{s.Period.Kind}-{s.Period.Key}-{threshold:D4}", n, cancellationToken).ConfigureAwait(false))
        {
            LogClaimed(logger, s.Name, threshold, s.Period.Key);
        }
    }

    /// <summary>
    /// Claims a notification: a conditional insert of a pending event. Only one instance's insert succeeds, however
    /// many run the timer, so the message is sent once; false when it was claimed before.
    /// </summary>
    private async Task<bool> TryClaimAsync(string partitionKey, string rowKey, BudgetNotification notification, CancellationToken cancellationToken)
    {
        var row = BudgetEventRow.Claim(partitionKey, rowKey, notification, time.GetUtcNow());
        try
        {
            await store.BudgetEvents.AddAsync(row.Entity, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            return false;
        }
    }

    /// <summary>
    /// Yesterday (in the budget zone) by model and client, claimed once per day like a threshold, so it is sent
    /// once however many instances run the timer. Claimed only after the day is folded (past the fold lag).
    /// </summary>
    private async Task ClaimDailySummaryAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var today = BudgetPeriod.Current("day", _zone, now);
        var yesterday = BudgetPeriod.Current("day", _zone, today.Start.AddSeconds(-1));
        if (now - today.Start < folder.Lag * 2)
        {
            return;
        }

        var spend = await folder.SpendAsync(yesterday.Start, yesterday.End, cancellationToken).ConfigureAwait(false);
        if (spend.Count == 0)
        {
            return; // No calls yesterday: nothing worth a message.
        }

        var breakdown = SpendBreakdown.Of(spend, BudgetScope.Global, top: 10);
        var n = new BudgetNotification
        {
            Kind = BudgetNotification.DailySummaryKind,
            Budget = "daily-summary",
            Scope = "global",
            Period = "day",
            PeriodKey = yesterday.Key,
            SpentUsd = Pricing.CostCalculator.ToUsd(breakdown.TotalNanoUsd),
            Action = "notify",
            ResetsAt = yesterday.End,
            TimeZone = _budgets.TimeZone,
            TopModels = SpendBreakdown.Usd(breakdown.TopModels),
            TopClients = SpendBreakdown.Usd(breakdown.TopClients),
        };
        await TryClaimAsync("daily-summary", "day-" + yesterday.Key, n, cancellationToken).ConfigureAwait(false);
    }

    private async Task DeliverPendingAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var query in PendingQueries(now))
        {
            await DeliverPendingAsync(query, now, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Where an undelivered event can be: each budget's (and the daily summary's) partition, its current and previous
    /// period (RowKey <c>day-…</c> or <c>month-…</c>). Keyed, so the cost does not grow with the events history leaves;
    /// an event whose period ended before that is no news any more and is not retried.
    /// </summary>
    private IEnumerable<TableQuery> PendingQueries(DateTimeOffset now)
    {
        var pending = (nameof(BudgetEventRow.Status), BudgetEventRow.PendingStatus);
        var previousDay = "day-" + BudgetPeriod.Current("day", _zone, BudgetPeriod.Current("day", _zone, now).Start.AddDays(-1)).Key;
        var previousMonth = "month-" + BudgetPeriod.Current("month", _zone, BudgetPeriod.Current("month", _zone, now).Start.AddDays(-1)).Key;
        var partitions = _budgets.Items.Select(b => (b.Key, Month: string.Equals(b.Value.Period, "month", StringComparison.OrdinalIgnoreCase)))
            .Append(("daily-summary", false));
        foreach (var (partition, month) in partitions)
        {
            yield return month
                ? new TableQuery { PartitionKey = partition, RowKeyFrom = previousMonth, RowKeyBefore = "month.", PropertyEquals = pending }
                : new TableQuery { PartitionKey = partition, RowKeyFrom = previousDay, RowKeyBefore = "day.", PropertyEquals = pending };
        }
    }

    private async Task DeliverPendingAsync(TableQuery query, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await foreach (var entity in store.BudgetEvents.QueryAsync(query, cancellationToken).ConfigureAwait(false))
        {
            var row = BudgetEventRow.FromEntity(entity);
            if (!row.IsDueAt(now))
            {
                continue;
            }

            // Lease it: only the instance whose conditional update wins delivers.
            row.LeaseUntil = now + Lease;
            try
            {
                row.ETag = await store.BudgetEvents.ReplaceAsync(row.Entity, row.ETag, cancellationToken).ConfigureAwait(false);
            }
            catch (RequestFailedException ex) when (ex.Status is 409 or 412)
            {
                continue;
            }

            await DeliverAsync(row, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sends a leased event to each webhook it has not reached yet, then records the attempt.</summary>
    private async Task DeliverAsync(BudgetEventRow row, CancellationToken cancellationToken)
    {
        var notification = row.Notification;
        var allDone = true;
        foreach (var (name, webhook) in _webhooks)
        {
            if (row.IsDeliveredTo(name))
            {
                continue;
            }

            var ok = await sender.SendAsync(name, WebhookMessage.Create(webhook, notification, time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
            row.MarkDelivery(name, ok);
            allDone &= ok;
        }

        var attempts = row.Attempts + 1;
        row.Attempts = attempts;
        row.LastAttemptAt = time.GetUtcNow();
        row.ReleaseLease();
        if (allDone)
        {
            row.Status = BudgetEventRow.DeliveredStatus;
        }
        else
        {
            var delay = RetryBaseDelay * Math.Pow(2, Math.Min(attempts - 1, 10));
            row.NextAttemptAt = time.GetUtcNow() + (delay < TimeSpan.FromHours(1) ? delay : TimeSpan.FromHours(1));
        }

        try
        {
            await store.BudgetEvents.ReplaceAsync(row.Entity, row.ETag, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412)
        {
            // Our lease expired and another instance took over; it will see our per-webhook marks only if
            // we wrote them, so the worst case is one re-send to a webhook we just delivered to (documented).
        }

        LogDelivered(logger, notification.Budget, notification.Threshold,
            _webhooks.Count == 0 ? "recorded only, no webhook is configured (Webhooks__<name>__Url)" : allDone ? "delivered" : "retrying", attempts);
    }

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Budget {Budget} crossed {Threshold}% for {Period}; notification claimed.")]
    private static partial void LogClaimed(ILogger logger, string budget, int threshold, string period);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Information, Message = "Budget {Budget} {Threshold}% notification: {Outcome} (attempt {Attempts}).")]
    private static partial void LogDelivered(ILogger logger, string budget, int threshold, string outcome, int attempts);
}
