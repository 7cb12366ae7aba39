using LlmFunctions.Core.Aggregation;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// The budget timer's work (the <c>BudgetRollup</c> function, or a hosted service on the local host).
/// <code>
/// (1) advance the fold ─► (2) spend per budget = folded 15-minute slots since the period start + the live tail
/// ─► (3) write each budget's LlmRollups row for its period, then every budget's latest row (100 a transaction)
/// ─► (4) for each threshold crossed: claim it with a conditional insert into LlmBudgetEvents (only one instance wins)
/// ─► (5) deliver the claimed and any pending earlier events, each under a lease (ETag), recording per-webhook outcome
/// and retrying with backoff
/// </code>
/// Exactly one message per (budget, period, threshold) and webhook, however many instances run this at once:
/// the insert is the claim, the lease stops two instances delivering the same pending event, and a delivery is
/// marked done per webhook so a retry only re-sends to the ones that failed.
/// </summary>
internal sealed class BudgetRollup(
    AggregateFolder folder,
    BudgetSpend spend,
    RollupRows rows,
    BudgetNotifications notifications,
    WebhookOutbox outbox,
    IOptions<BudgetsOptions> options)
{
    /// <param name="written">Called once every budget's row is written, before notifications are claimed and sent:
    /// where this instance's own enforcement takes the new figures, so webhook latency never delays a block.</param>
    public async Task<IReadOnlyList<BudgetStatus>> RunAsync(CancellationToken cancellationToken, Action<IReadOnlyList<BudgetStatus>>? written = null)
    {
        // (1)
        await folder.FoldAsync(cancellationToken).ConfigureAwait(false);

        // (2)
        var statuses = await spend.ComputeAsync(cancellationToken).ConfigureAwait(false);

        // (3)
        await rows.WriteAsync(statuses, cancellationToken).ConfigureAwait(false);

        written?.Invoke(statuses);
        foreach (var status in statuses)
        {
            // (4)
            foreach (var threshold in BudgetThresholds.Parse(status.Options.Thresholds) ?? [])
            {
                if (status.Percent >= threshold)
                {
                    await notifications.ClaimAsync(status, threshold, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        if (options.Value.DailySummary && outbox.HasWebhooks)
        {
            await notifications.ClaimDailySummaryAsync(cancellationToken).ConfigureAwait(false);
        }

        // (5)
        await outbox.DeliverPendingAsync(cancellationToken).ConfigureAwait(false);
        return statuses;
    }
}
