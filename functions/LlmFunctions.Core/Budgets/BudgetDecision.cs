using LlmFunctions.Core.Aggregation;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// What budget enforcement says about a call before it is forwarded; with the tightest remaining budget that applies
/// (USD, null when none does or none is known yet) and the shadow budgets that would have blocked it.
/// </summary>
internal readonly record struct BudgetDecision(
    BudgetVerdict Verdict, string? Message = null, string? DowngradeTo = null, DateTimeOffset? ResetsAt = null, decimal? RemainingUsd = null,
    string? ShadowBlocked = null, BudgetReservation? Reservation = null)
{
    public static BudgetDecision Allow => default;
}

internal enum BudgetVerdict
{
    Allow,
    Downgrade,
    Block,
    TooExpensive,

    /// <summary>A reserved budget applies and its ledger could not be read: not forwarded (503).</summary>
    Unavailable,

    /// <summary>A reserved budget applies and a model the call may be billed at has no price: no worst case (400).</summary>
    Unpriced,

    /// <summary>A reserved budget applies and the call's input is stored upstream, not in the body: no worst case (400).</summary>
    UnboundedInput,
}

/// <summary>
/// What bounds a call's cost before it runs: a token estimate of its prompt, the prompt's bytes (no text prompt has
/// more tokens than bytes), the output tokens each choice may write (null: not set), its choices, whether it names
/// input stored upstream (then the body bounds nothing), and the model as the client named it (null: the key's).
/// </summary>
internal readonly record struct CallSize(
    Func<long> EstimateInputTokens, long PromptBytes, long? MaxOutputTokens, long Choices = 1, bool HasStoredInput = false, string? Model = null)
{
    /// <summary>The most output tokens the call may be billed: each choice's cap (or <paramref name="defaultMax"/>), saturating.</summary>
    public long OutputTokens(long defaultMax)
    {
        var perChoice = MaxOutputTokens ?? defaultMax;
        var choices = Math.Max(Choices, 1);
        return perChoice > long.MaxValue / choices ? long.MaxValue : perChoice * choices;
    }
}

/// <summary>Budget enforcement at the proxy (see the Budgets folder); the proxy asks before forwarding.</summary>
internal interface IBudgetGate
{
    /// <param name="call">Who and what the call's spend counts under (client, model, end user, tags).</param>
    ValueTask<BudgetDecision> CheckAsync(SpendKey call, CallSize size, CancellationToken cancellationToken);
}
