namespace LlmFunctions.Core.Records;

/// <summary>The tables the app uses (Bicep creates the same ones).</summary>
internal static class TableNames
{
    public const string Calls = "LlmCalls";
    public const string Aggregates = "LlmAggregates";
    public const string Rollups = "LlmRollups";
    public const string BudgetEvents = "LlmBudgetEvents";

    public static readonly string[] All = [Calls, Aggregates, Rollups, BudgetEvents];
}
