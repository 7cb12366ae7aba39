namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Token counts a response reported (or that were estimated), in one convention whatever the API: the input tokens
/// include the cache reads (<see cref="CachedInputTokens"/>) and writes (<see cref="CacheWriteTokens"/>, of which
/// <see cref="CacheWrite1hTokens"/> are 1-hour writes), and the output tokens include the reasoning (thinking) tokens.
/// </summary>
internal readonly record struct Usage(long InputTokens, long CachedInputTokens, long OutputTokens, long ReasoningTokens, long CacheWriteTokens = 0,
    long CacheWrite1hTokens = 0);
