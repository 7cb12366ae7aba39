namespace LlmFunctions.Core.Proxy;

/// <summary>Token counts a response reported (or that were estimated).</summary>
internal readonly record struct Usage(long InputTokens, long CachedInputTokens, long OutputTokens, long ReasoningTokens, long CacheWriteTokens = 0);
