namespace LlmFunctions.Core.Pricing;

/// <summary>A model's list price in USD per 1M tokens.</summary>
internal sealed record ModelPrice(decimal Input, decimal CachedInput, decimal Output);
