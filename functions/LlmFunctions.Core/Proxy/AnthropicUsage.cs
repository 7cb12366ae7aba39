namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Anthropic's <c>usage</c> object as reported, every field null when absent: <c>input_tokens</c> (input NOT read from or
/// written to the cache), <c>output_tokens</c> (thinking included), <c>cache_read_input_tokens</c>,
/// <c>cache_creation_input_tokens</c> (all writes) and its split <c>cache_creation.ephemeral_5m_input_tokens</c> /
/// <c>ephemeral_1h_input_tokens</c>, and <c>output_tokens_details.thinking_tokens</c> (a part of the output, never added).
/// </summary>
internal readonly record struct AnthropicUsage(
    long? InputTokens = null, long? OutputTokens = null, long? CacheReadTokens = null, long? CacheCreationTokens = null,
    long? Write5mTokens = null, long? Write1hTokens = null, long? ThinkingTokens = null)
{
    /// <summary>
    /// A stream's usage once a later event's came: <c>message_delta</c>'s counts are cumulative, so each field it has
    /// replaces the earlier one (never added), and one it lacks keeps what <c>message_start</c> said.
    /// </summary>
    public AnthropicUsage Then(AnthropicUsage later) => new(
        later.InputTokens ?? InputTokens, later.OutputTokens ?? OutputTokens, later.CacheReadTokens ?? CacheReadTokens,
        later.CacheCreationTokens ?? CacheCreationTokens, later.Write5mTokens ?? Write5mTokens, later.Write1hTokens ?? Write1hTokens,
        later.ThinkingTokens ?? ThinkingTokens);

    /// <summary>
    /// The one convention every record uses (<see cref="Usage"/>): input = uncached + cache reads + cache writes, each
    /// priced once at its own rate. Writes are <c>cache_creation_input_tokens</c> (else the split's sum); of them, the
    /// 1-hour ones are the split's (at most the total), and the rest, a remainder the split does not cover included, are
    /// billed as 5-minute writes.
    /// </summary>
    public Usage ToUsage()
    {
        var read = Math.Max(CacheReadTokens ?? 0, 0);
        var written = Math.Max(CacheCreationTokens ?? (Math.Max(Write5mTokens ?? 0, 0) + Math.Max(Write1hTokens ?? 0, 0)), 0);
        var oneHour = Math.Clamp(Write1hTokens ?? 0, 0, written);
        var input = Math.Max(InputTokens ?? 0, 0) + read + written;
        return new Usage(input, read, Math.Max(OutputTokens ?? 0, 0), Math.Max(ThinkingTokens ?? 0, 0), written, oneHour);
    }
}
