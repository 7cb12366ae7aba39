using System.Globalization;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Pricing;

namespace LlmFunctions.Core.Budgets;

/// <summary>What a call is told when a reserved budget refuses it: which budget, why, and what to change.</summary>
internal static class ReservedRefusals
{
    public static BudgetDecision StoredInput(string budget) => new(BudgetVerdict.UnboundedInput,
        $"Budget '{budget}' reserves each call's worst case, and this call's input is stored upstream (previous_response_id or "
        + "conversation), so its size is unknown here. Send the whole input in the request instead.");

    public static BudgetDecision Unpriced(string budget, string model) => new(BudgetVerdict.Unpriced,
        $"Budget '{budget}' reserves each call's worst case, and model '{Text.Truncate(model)}' has no price to reckon it with. "
        + "Use a priced model, or give this one a price (Pricing__Models__<model>__Input and __Output, USD per 1M tokens).");

    /// <summary>The budget <paramref name="budget"/> (as it was when reserved in) cannot cover the call's worst case.</summary>
    public static BudgetDecision CannotCover(string budget, BudgetOptions options, BudgetPeriod period, long worstNanoUsd,
        IEnumerable<SpendKey> billedAs, long promptBytes, long outputTokens, decimal leftUsd)
    {
        var left = leftUsd < 0
            ? string.Create(CultureInfo.InvariantCulture, $"more than its whole limit of ${options.LimitUsd:0.00}")
            : string.Create(CultureInfo.InvariantCulture, $"with ${leftUsd:0.######} of ${options.LimitUsd:0.00} left");
        return new BudgetDecision(BudgetVerdict.Block, string.Create(CultureInfo.InvariantCulture,
                $"Budget '{budget}' ({options.Scope}, {period.Kind}, reserved) cannot cover this call: up to ${CostCalculator.ToUsd(worstNanoUsd):0.######} "
                + $"({string.Join(" or ", billedAs.Select(k => k.Model))}, up to {promptBytes} input and {outputTokens} output tokens), "
                + $"{left}. Lower max_tokens, or wait for the reset at {period.End:yyyy-MM-dd HH:mm} UTC."),
            ResetsAt: period.End, RemainingUsd: 0);
    }
}
