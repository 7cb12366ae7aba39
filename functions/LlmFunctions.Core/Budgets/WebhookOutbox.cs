using Azure;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// Delivers the claimed notifications in <c>LlmBudgetEvents</c> to every webhook: each pending event under a lease (its
/// ETag), so two instances never deliver the same one at once, with a per-webhook mark, so a retry re-sends only to the
/// webhooks that failed, and a backoff that doubles up to an hour.
/// </summary>
internal sealed partial class WebhookOutbox(
    TableStore store, WebhookSender sender, ConfiguredBudgets budgets, IOptions<Dictionary<string, WebhookOptions>> webhookOptions,
    TimeProvider time, ILogger<WebhookOutbox> logger)
{
    private readonly Dictionary<string, WebhookOptions> _webhooks = webhookOptions.Value;

    /// <summary>First retry delay of a failed delivery; doubles per attempt up to an hour.</summary>
    internal TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a delivering instance holds an event before another may take it over.</summary>
    internal TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(2);

    public bool HasWebhooks => _webhooks.Count > 0;

    public async Task DeliverPendingAsync(CancellationToken cancellationToken)
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
        var previousDay = "day-" + BudgetPeriod.Current("day", budgets.Zone, BudgetPeriod.Current("day", budgets.Zone, now).Start.AddDays(-1)).Key;
        var previousMonth = "month-" + BudgetPeriod.Current("month", budgets.Zone, BudgetPeriod.Current("month", budgets.Zone, now).Start.AddDays(-1)).Key;
        var partitions = budgets.Items.Select(b => (b.Name, Month: string.Equals(b.Options.Period, "month", StringComparison.OrdinalIgnoreCase)))
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

    [LoggerMessage(EventId = 7002, Level = LogLevel.Information, Message = "Budget {Budget} {Threshold}% notification: {Outcome} (attempt {Attempts}).")]
    private static partial void LogDelivered(ILogger logger, string budget, int threshold, string outcome, int attempts);
}
