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
    /// at their own rates, never again as input; of the writes, <paramref name="cacheWrite1hTokens"/> are 1-hour writes
    /// (Anthropic), billed at <see cref="ModelPrice.CacheWrite1h"/>, the rest at <see cref="ModelPrice.CacheWrite"/>.
    /// Reasoning (thinking) tokens are part of the output tokens and are billed once, with them. A prompt over the
    /// model's long-context threshold (all its input tokens, cache reads and writes included) bills every token at the
    /// long-context prices.
    /// </summary>
    public static long CostNanoUsd(ModelPrice price, long inputTokens, long cachedInputTokens, long outputTokens, long cacheWriteTokens = 0,
        long cacheWrite1hTokens = 0)
    {
        var input = Math.Max(inputTokens, 0);
        var p = price.For(input);
        var cached = Math.Clamp(cachedInputTokens, 0, input);
        var written = Math.Clamp(cacheWriteTokens, 0, input - cached);
        var written1h = Math.Clamp(cacheWrite1hTokens, 0, written);
        var uncached = input - cached - written;
        var write5m = p.CacheWrite ?? p.Input;
        var nano = (uncached * p.Input + cached * p.CachedInput + (written - written1h) * write5m + written1h * (p.CacheWrite1h ?? write5m)
            + Math.Max(outputTokens, 0) * p.Output) * 1000m;

        // A worst case asked for with absurd token counts saturates rather than overflowing.
        return nano >= long.MaxValue ? long.MaxValue : (long)decimal.Round(nano, MidpointRounding.ToEven);
    }

    public static decimal ToUsd(long nanoUsd) => nanoUsd / (decimal)NanoPerUsd;
}
