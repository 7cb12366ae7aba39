using System.Text.Json;
using Azure;
using Azure.Data.Tables;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// A claimed notification in table <c>LlmBudgetEvents</c> and its delivery: PartitionKey = the budget (or
/// <c>daily-summary</c>), RowKey = the period and threshold it is for. The claim is a conditional insert, so one
/// instance sends it; delivery leases the row with a conditional update. One column per webhook
/// (<c>Delivered_&lt;name&gt;</c>) marks where it has arrived, so a retry re-sends only to the others.
/// </summary>
internal sealed class BudgetEventRow
{
    public const string PendingStatus = "pending";
    public const string DeliveredStatus = "delivered";

    private static readonly DateTimeOffset NoLease = new(1700, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private BudgetEventRow(TableEntity entity) => Entity = entity;

    /// <summary>The row as stored, with its ETag (for the conditional update).</summary>
    public TableEntity Entity { get; }

    public ETag ETag
    {
        get => Entity.ETag;
        set => Entity.ETag = value;
    }

    public string Status
    {
        get => Entity.GetString(nameof(Status)) ?? "";
        set => Entity[nameof(Status)] = value;
    }

    public int Attempts
    {
        get => Entity.GetInt32(nameof(Attempts)) ?? 0;
        set => Entity[nameof(Attempts)] = value;
    }

    public DateTimeOffset NextAttemptAt
    {
        get => Entity.GetDateTimeOffset(nameof(NextAttemptAt)) ?? NoLease;
        set => Entity[nameof(NextAttemptAt)] = value;
    }

    public DateTimeOffset LeaseUntil
    {
        get => Entity.GetDateTimeOffset(nameof(LeaseUntil)) ?? NoLease;
        set => Entity[nameof(LeaseUntil)] = value;
    }

    public DateTimeOffset LastAttemptAt
    {
        set => Entity[nameof(LastAttemptAt)] = value;
    }

    public BudgetNotification Notification =>
        JsonSerializer.Deserialize(Entity.GetString(nameof(Notification)) ?? "{}", BudgetJsonContext.Default.BudgetNotification)!;

    /// <summary>A new pending row, due now.</summary>
    public static BudgetEventRow Claim(string budget, string rowKey, BudgetNotification notification, DateTimeOffset now) => new(new TableEntity(budget, rowKey)
    {
        [nameof(Status)] = PendingStatus,
        [nameof(Notification)] = JsonSerializer.Serialize(notification, BudgetJsonContext.Default.BudgetNotification),
        [nameof(Attempts)] = 0,
        [nameof(NextAttemptAt)] = now,
        [nameof(LeaseUntil)] = NoLease,
        ["ClaimedAt"] = now,
    });

    public static BudgetEventRow FromEntity(TableEntity entity) => new(entity);

    /// <summary>Due for an attempt, and no instance holds its lease.</summary>
    public bool IsDueAt(DateTimeOffset now) => NextAttemptAt <= now && LeaseUntil <= now;

    public void ReleaseLease() => LeaseUntil = NoLease;

    public bool IsDeliveredTo(string webhook) => Entity.GetBoolean(DeliveredColumn(webhook)) == true;

    public void MarkDelivery(string webhook, bool delivered) => Entity[DeliveredColumn(webhook)] = delivered;

    private static string DeliveredColumn(string webhook) => "Delivered_" + new string([.. webhook.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_')]);
}
