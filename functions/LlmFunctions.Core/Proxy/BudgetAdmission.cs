using System.Globalization;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Records;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Step (3) of a proxied call: asks the budget gate about a metered call before it costs anything and turns the
/// verdict into what the proxy does (a refusal, a downgrade, a reservation to settle) and the headers the client sees.
/// </summary>
internal sealed class BudgetAdmission(IBudgetGate budgets, CallBilling billing, PriceTable prices)
{
    /// <summary>
    /// The failure that refuses the call, or the model to downgrade it to (or neither); a reservation taken is kept on
    /// the call (<see cref="Settle"/>), and the tightest remaining budget goes out as <c>x-llm-budget-remaining-usd</c>.
    /// </summary>
    public async ValueTask<(ApiFailure? Blocked, string? DowngradeTo)> AdmitAsync(HttpContext context, CallRecord record, string path,
        RequestFacts? facts, PooledBufferWriter body)
    {
        if (facts?.Model is not { Length: > 0 } model || !Endpoints.IsMetered(path))
        {
            return (null, null);
        }

        var size = new CallSize(() => billing.PromptTokens(model, body.WrittenSpan), body.WrittenCount, facts.MaxOutputTokens, facts.Choices,
            facts.HasStoredInput, model);
        var decision = await budgets.CheckAsync(SpendKey.Of(record), size, context.RequestAborted).ConfigureAwait(false);
        if (decision.Reservation is { } reservation)
        {
            context.Features.Set(reservation); // settled to the call's cost when it ends (Settle)
        }

        if (decision.RemainingUsd is { } remaining)
        {
            context.Response.Headers["x-llm-budget-remaining-usd"] = remaining.ToString("0.000000", CultureInfo.InvariantCulture);
        }

        record.BudgetShadowBlocks = decision.ShadowBlocked ?? "";
        switch (decision.Verdict)
        {
            case BudgetVerdict.Block:
                return (ApiFailure.BudgetExceeded(decision.Message!, decision.ResetsAt), null);
            case BudgetVerdict.TooExpensive:
                return (ApiFailure.Rejected(400, "max_cost_per_call_exceeded", decision.Message!), null);
            case BudgetVerdict.Unavailable:
                return (ApiFailure.BudgetUnavailable(decision.Message!), null);
            case BudgetVerdict.Unpriced:
                return (ApiFailure.Rejected(400, "model_not_priced", decision.Message!), null);
            case BudgetVerdict.UnboundedInput:
                return (ApiFailure.Rejected(400, "input_not_bounded", decision.Message!), null);
            case BudgetVerdict.Downgrade when Endpoints.DialectOf(path) == ApiDialect.Anthropic
                && !prices.Canonical(decision.DowngradeTo!).StartsWith("claude", StringComparison.Ordinal):
                // A Messages call can only go to a Claude model: a downgrade elsewhere cannot be honoured, and the budget still holds.
                return (ApiFailure.BudgetExceeded($"A budget downgrades '{Text.Truncate(model)}' to '{Text.Truncate(decision.DowngradeTo!)}', "
                    + "which is not a Claude model and cannot serve /v1/messages; the call is refused instead. Downgrade Claude models to a "
                    + "Claude model (Budgets__Items__<name>__DowngradeTo).", decision.ResetsAt), null);
            case BudgetVerdict.Downgrade:
                record.UsedModel = prices.Canonical(decision.DowngradeTo!);
                context.Response.Headers["x-llm-downgraded-from"] = model;
                return (null, decision.DowngradeTo);
            default:
                return (null, null);
        }
    }

    /// <summary>Settles the call's reservation to its cost: once; later calls do nothing.</summary>
    public static void Settle(HttpContext context, CallRecord record) => context.Features.Get<BudgetReservation>()?.Settle(record.CostNanoUsd);
}
