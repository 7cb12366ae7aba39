namespace LlmFunctions.Core.Pricing;

/// <summary>
/// A model's list price in USD per 1M tokens. <paramref name="CacheWrite"/>: tokens written to the provider's prompt
/// cache (null: billed as input, never a guessed multiplier); Anthropic's 5-minute writes. <paramref name="CacheWrite1h"/>:
/// Anthropic's 1-hour cache writes (null: billed as <paramref name="CacheWrite"/>). <paramref name="LongContext"/>: the
/// prices of a call whose prompt is longer than <see cref="LongContextTier.Above"/> tokens, for all of its tokens (as
/// Anthropic and Google bill prompts over 200k).
/// </summary>
internal sealed record ModelPrice(decimal Input, decimal CachedInput, decimal Output, decimal? CacheWrite = null, LongContextTier? LongContext = null,
    decimal? CacheWrite1h = null)
{
    /// <summary>The prices that apply to a call with this many input tokens.</summary>
    public ModelPrice For(long inputTokens) => LongContext is { } tier && inputTokens > tier.Above ? tier.Price : this;
}

/// <summary>Prices for prompts longer than <see cref="Above"/> input tokens.</summary>
internal sealed record LongContextTier(long Above, ModelPrice Price);
