using System.Globalization;
using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// What a call was billed, as the client sees it: response headers on a JSON answer, an SSE comment before a stream's
/// <c>[DONE]</c> (its headers left before its usage came). One list, so the two never differ.
/// </summary>
internal static class MeteringFields
{
    public static IEnumerable<(string Name, string Value)> Of(CallRecord record)
    {
        yield return ("x-llm-cost-usd", PriceTable.Format(CostCalculator.ToUsd(record.CostNanoUsd)));
        yield return ("x-llm-input-tokens", record.InputTokens.ToString(CultureInfo.InvariantCulture));
        yield return ("x-llm-output-tokens", record.OutputTokens.ToString(CultureInfo.InvariantCulture));
        yield return ("x-llm-usage-source", record.UsageSource);
        if (!record.Priced)
        {
            yield return ("x-llm-priced", "false");
        }
    }

    /// <summary>The fields as one SSE comment line (<c>: name=value name=value</c>), which SSE readers skip.</summary>
    public static string SseComment(CallRecord record) =>
        ": " + string.Join(' ', Of(record).Select(f => f.Name + "=" + f.Value)) + "\n\n";
}
