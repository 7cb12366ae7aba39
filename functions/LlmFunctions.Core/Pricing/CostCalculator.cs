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
    /// Cost of one call. Cached (cache-read) and cache-write input tokens are part of the input tokens and are billed
    /// at their own rates; reasoning tokens are part of the output tokens and are billed once, with them. A prompt
    /// over the model's long-context threshold bills every token at the long-context prices.
    /// </summary>
    public static long CostNanoUsd(ModelPrice price, long inputTokens, long cachedInputTokens, long outputTokens, long cacheWriteTokens = 0)
    {
        var input = Math.Max(inputTokens, 0);
        var p = price.For(input);
        var cached = Math.Clamp(cachedInputTokens, 0, input);
        var written = Math.Clamp(cacheWriteTokens, 0, input - cached);
        var uncached = input - cached - written;
        var nano = (uncached * p.Input + cached * p.CachedInput + written * (p.CacheWrite ?? p.Input) + Math.Max(outputTokens, 0) * p.Output) * 1000m;

        // A worst case asked for with absurd token counts saturates rather than overflowing.
        return nano >= long.MaxValue ? long.MaxValue : (long)decimal.Round(nano, MidpointRounding.ToEven);
    }

    public static decimal ToUsd(long nanoUsd) => nanoUsd / (decimal)NanoPerUsd;
}
