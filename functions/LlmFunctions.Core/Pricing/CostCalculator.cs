namespace LlmFunctions.Core.Pricing;

/// <summary>
/// Exact cost arithmetic. Prices are USD per 1M tokens, so one token at price p costs p × 1000 nano-USD;
/// all sums use the integer nano-USD value, the double in the record is for reading only.
/// </summary>
internal static class CostCalculator
{
    /// <summary>Nano-USD per USD.</summary>
    public const long NanoPerUsd = 1_000_000_000;

    /// <summary>
    /// Cost of one call. Cached input tokens are part of the input tokens and are billed at the cached rate;
    /// reasoning tokens are part of the output tokens and are billed once, with them.
    /// </summary>
    public static long CostNanoUsd(ModelPrice price, long inputTokens, long cachedInputTokens, long outputTokens)
    {
        var cached = Math.Clamp(cachedInputTokens, 0, Math.Max(inputTokens, 0));
        var uncached = Math.Max(inputTokens, 0) - cached;
        var nano = (uncached * price.Input + cached * price.CachedInput + Math.Max(outputTokens, 0) * price.Output) * 1000m;
        return (long)decimal.Round(nano, MidpointRounding.ToEven);
    }

    public static decimal ToUsd(long nanoUsd) => nanoUsd / (decimal)NanoPerUsd;
}
