using Azure;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// Claims the notifications a rollup calls for: each threshold a budget crossed in its period, and yesterday's summary.
/// A claim is a conditional insert of a pending event into <c>LlmBudgetEvents</c>, so only one instance's succeeds however
/// many run the timer; <see cref="WebhookOutbox"/> delivers what is claimed.
/// </summary>
internal sealed partial class BudgetNotifications(
    TableStore store, AggregateFolder folder, AggregateReader aggregates, ConfiguredBudgets budgets, IOptions<BudgetsOptions> options,
    TimeProvider time, ILogger<BudgetNotifications> logger)
{
    private readonly string _timeZone = options.Value.TimeZone;

    public async Task ClaimAsync(BudgetStatus s, int threshold, CancellationToken cancellationToken)
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
            TimeZone = _timeZone,
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
    public async Task ClaimDailySummaryAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var today = BudgetPeriod.Current("day", budgets.Zone, now);
        var yesterday = BudgetPeriod.Current("day", budgets.Zone, today.Start.AddSeconds(-1));
        if (now - today.Start < folder.Lag * 2)
        {
            return;
        }

        var spend = await aggregates.SpendAsync(yesterday.Start, yesterday.End, cancellationToken).ConfigureAwait(false);
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
            SpentUsd = CostCalculator.ToUsd(breakdown.TotalNanoUsd),
            Action = "notify",
            ResetsAt = yesterday.End,
            TimeZone = _timeZone,
            TopModels = SpendBreakdown.Usd(breakdown.TopModels),
            TopClients = SpendBreakdown.Usd(breakdown.TopClients),
        };
        await TryClaimAsync("daily-summary", "day-" + yesterday.Key, n, cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Budget {Budget} crossed {Threshold}% for {Period}; notification claimed.")]
    private static partial void LogClaimed(ILogger logger, string budget, int threshold, string period);
}
