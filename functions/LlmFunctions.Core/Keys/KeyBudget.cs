namespace LlmFunctions.Core.Keys;

/// <summary>
/// A key's own budget: the budget machinery's <c>client:&lt;name&gt;</c> scope with this limit, period and action
/// (<c>block</c>, <c>notify</c> or <c>shadow</c>), reserved per call when <see cref="Reserve"/> (block only).
/// </summary>
internal sealed record KeyBudget(decimal LimitUsd, string Period, string Action, bool Reserve)
{
    public static readonly string[] Periods = ["day", "month"];

    public static readonly string[] Actions = ["block", "notify", "shadow"];
}
