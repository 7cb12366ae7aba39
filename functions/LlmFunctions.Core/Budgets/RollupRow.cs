using Azure.Data.Tables;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// A budget's spend for one period in table <c>LlmRollups</c>: PartitionKey = the budget's name, RowKey =
/// <c>{period}-{key}</c> (history); and its latest figures in partition <see cref="CurrentPartition"/>, RowKey = the
/// budget's name (what the proxy and <c>/metrics</c> read). The property names are the stored columns, which users read
/// in Storage Explorer.
/// </summary>
internal sealed class RollupRow
{
    /// <summary>
    /// The partition of every budget's latest row: one query reads them all, 1,000 a page, however many budgets there
    /// are (a budget's name cannot start with '~').
    /// </summary>
    public const string CurrentPartition = "~current";

    public string PartitionKey { get; set; } = "";

    public string RowKey { get; set; } = "";

    public string Scope { get; set; } = "";

    /// <summary><c>day</c> or <c>month</c>.</summary>
    public string Period { get; set; } = "";

    /// <summary>The period in the budget's zone: <c>yyyy-MM-dd</c> or <c>yyyy-MM</c>.</summary>
    public string PeriodKey { get; set; } = "";

    public DateTimeOffset PeriodStart { get; set; }

    public DateTimeOffset PeriodEnd { get; set; }

    /// <summary>The exact spend; <see cref="SpentUsd"/> is the same rounded for people.</summary>
    public long SpentNanoUsd { get; set; }

    public double SpentUsd { get; set; }

    public double LimitUsd { get; set; }

    public double Percent { get; set; }

    public string Action { get; set; } = "";

    /// <summary>Records committed before this time are in <see cref="SpentNanoUsd"/>.</summary>
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>The budget's row for its period (history).</summary>
    public static RollupRow History(BudgetStatus s) => From(s, s.Name, $"{s.Period.Kind}-{s.Period.Key}");

    /// <summary>The budget's latest row.</summary>
    public static RollupRow Current(BudgetStatus s) => From(s, CurrentPartition, s.Name);

    private static RollupRow From(BudgetStatus s, string partitionKey, string rowKey) => new()
    {
        PartitionKey = partitionKey,
        RowKey = rowKey,
        Scope = s.Scope.ToString(),
        Period = s.Period.Kind,
        PeriodKey = s.Period.Key,
        PeriodStart = s.Period.Start,
        PeriodEnd = s.Period.End,
        SpentNanoUsd = s.SpentNanoUsd,
        SpentUsd = (double)s.SpentUsd,
        LimitUsd = (double)s.Options.LimitUsd,
        Percent = (double)s.Percent,
        Action = s.Options.Action,
        UpdatedAt = s.UpdatedAt,
    };

    /// <summary>The row as stored (these column names).</summary>
    public TableEntity ToEntity() => new(PartitionKey, RowKey)
    {
        [nameof(Scope)] = Scope,
        [nameof(Period)] = Period,
        [nameof(PeriodKey)] = PeriodKey,
        [nameof(PeriodStart)] = PeriodStart,
        [nameof(PeriodEnd)] = PeriodEnd,
        [nameof(SpentNanoUsd)] = SpentNanoUsd,
        [nameof(SpentUsd)] = SpentUsd,
        [nameof(LimitUsd)] = LimitUsd,
        [nameof(Percent)] = Percent,
        [nameof(Action)] = Action,
        [nameof(UpdatedAt)] = UpdatedAt,
    };

    public static RollupRow FromEntity(TableEntity e) => new()
    {
        PartitionKey = e.PartitionKey,
        RowKey = e.RowKey,
        Scope = e.GetString(nameof(Scope)) ?? "",
        Period = e.GetString(nameof(Period)) ?? "",
        PeriodKey = e.GetString(nameof(PeriodKey)) ?? "",
        PeriodStart = e.GetDateTimeOffset(nameof(PeriodStart)) ?? default,
        PeriodEnd = e.GetDateTimeOffset(nameof(PeriodEnd)) ?? default,
        SpentNanoUsd = e.GetInt64(nameof(SpentNanoUsd)) ?? 0,
        SpentUsd = e.GetDouble(nameof(SpentUsd)) ?? 0,
        LimitUsd = e.GetDouble(nameof(LimitUsd)) ?? 0,
        Percent = e.GetDouble(nameof(Percent)) ?? 0,
        Action = e.GetString(nameof(Action)) ?? "",
        UpdatedAt = e.GetDateTimeOffset(nameof(UpdatedAt)) ?? default,
    };
}
