namespace LlmFunctions.Core.Budgets;

/// <summary>What a webhook message says: a threshold crossed, or yesterday's spend (<see cref="Kind"/>).</summary>
internal sealed record BudgetNotification
{
    public const string ThresholdKind = "threshold";
    public const string DailySummaryKind = "daily_summary";

    public required string Kind { get; init; }

    public required string Budget { get; init; }

    public required string Scope { get; init; }

    public required string Period { get; init; }

    public required string PeriodKey { get; init; }

    public required decimal SpentUsd { get; init; }

    /// <summary>0 for a daily summary, which has no limit.</summary>
    public decimal LimitUsd { get; init; }

    public decimal Percent { get; init; }

    /// <summary>The threshold crossed, in percent; 0 for a daily summary.</summary>
    public int Threshold { get; init; }

    public required string Action { get; init; }

    public required DateTimeOffset ResetsAt { get; init; }

    public required string TimeZone { get; init; }

    public required IReadOnlyList<KeyValuePair<string, decimal>> TopModels { get; init; }

    public required IReadOnlyList<KeyValuePair<string, decimal>> TopClients { get; init; }

    public string Title => Kind == DailySummaryKind
        ? $"LLM spend summary for {PeriodKey}: ${SpentUsd:0.00}"
        : $"Budget '{Budget}' at {Percent:0.#}% (crossed {Threshold}%)";
}
