using Azure;
using Azure.Data.Tables;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// A budget's spend for one period in table <c>LlmRollups</c>: PartitionKey = the budget's name, RowKey =
/// <c>{period}-{key}</c> (history) or <c>current</c> (what the proxy and <c>/metrics</c> read). The property names are
/// the stored columns, which users read in Storage Explorer.
/// </summary>
internal sealed class RollupRow : ITableEntity
{
    public const string CurrentRowKey = "current";

    public string PartitionKey { get; set; } = "";

    public string RowKey { get; set; } = "";

    public DateTimeOffset? Timestamp { get; set; }

    public ETag ETag { get; set; }

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

    public static RollupRow From(BudgetStatus s, string rowKey) => new()
    {
        PartitionKey = s.Name,
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
}
