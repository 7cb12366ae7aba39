namespace LlmFunctions.Core.Budgets;

/// <summary>What a webhook message says. <see cref="Kind"/> is <c>threshold</c> or <c>daily_summary</c>.</summary>
internal sealed record BudgetNotification(
    string Kind,
    string Budget,
    string Scope,
    string Period,
    string PeriodKey,
    decimal SpentUsd,
    decimal LimitUsd,
    decimal Percent,
    int Threshold,
    string Action,
    DateTimeOffset ResetsAt,
    string TimeZone,
    IReadOnlyList<KeyValuePair<string, decimal>> TopModels,
    IReadOnlyList<KeyValuePair<string, decimal>> TopClients)
{
    public string Title => Kind == "daily_summary"
        ? $"LLM spend summary for {PeriodKey}: ${SpentUsd:0.00}"
        : $"Budget '{Budget}' at {Percent:0.#}% (crossed {Threshold}%)";
}
