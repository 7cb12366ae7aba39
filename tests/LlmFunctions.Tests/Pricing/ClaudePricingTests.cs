using LlmFunctions.Core;
using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Proxy;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Tests.Pricing;

/// <summary>
/// Claude's billing rules on the built-in prices (Anthropic's published list, USD per 1M tokens), one worked example per
/// rule: Anthropic's <c>input_tokens</c> excludes the cache, cache writes cost 1.25× input (5 minutes) or 2× (1 hour),
/// cache reads cost the model's published cache-hit price (0.1× input for most, 0.05× on Opus 5.5 and Sonnet 5.5, 0.025×
/// on Fable 5.1 and Mythos 5.1), thinking is inside <c>output_tokens</c>, and Sonnet 4/4.5 prompts over 200K input tokens
/// (cache included) bill every token at the long-context prices.
/// </summary>
public sealed class ClaudePricingTests
{
    private static readonly PriceTable Table = new(Options.Create(new PricingOptions()));

    private static long Cost(string model, AnthropicUsage usage)
    {
        Assert.True(Table.TryGetPrice(model, out var price), model);
        var u = usage.ToUsage();
        return CostCalculator.CostNanoUsd(price, u.InputTokens, u.CachedInputTokens, u.OutputTokens, u.CacheWriteTokens, u.CacheWrite1hTokens);
    }

    [Theory]
    [InlineData("claude-fable-5-1", 10.00, 12.50, 20.00, 0.25, 50.00)]
    [InlineData("claude-mythos-5-1", 10.00, 12.50, 20.00, 0.25, 50.00)]
    [InlineData("claude-fable-5", 10.00, 12.50, 20.00, 1.00, 50.00)]
    [InlineData("claude-mythos-5", 10.00, 12.50, 20.00, 1.00, 50.00)]
    [InlineData("claude-opus-5-5", 4.00, 5.00, 8.00, 0.20, 20.00)]
    [InlineData("claude-opus-5", 5.00, 6.25, 10.00, 0.50, 25.00)]
    [InlineData("claude-sonnet-5-5", 2.00, 2.50, 4.00, 0.10, 10.00)]
    [InlineData("claude-sonnet-5", 2.00, 2.50, 4.00, 0.20, 10.00)]
    [InlineData("claude-opus-4-8", 5.00, 6.25, 10.00, 0.50, 25.00)]
    [InlineData("claude-opus-4-6", 5.00, 6.25, 10.00, 0.50, 25.00)]
    [InlineData("claude-opus-4-5-20251101", 5.00, 6.25, 10.00, 0.50, 25.00)]
    [InlineData("claude-opus-4-1-20250805", 15.00, 18.75, 30.00, 1.50, 75.00)]
    [InlineData("claude-opus-4-20250514", 15.00, 18.75, 30.00, 1.50, 75.00)]
    [InlineData("claude-sonnet-4-6", 3.00, 3.75, 6.00, 0.30, 15.00)]
    [InlineData("claude-sonnet-4-5-20250929", 3.00, 3.75, 6.00, 0.30, 15.00)]
    [InlineData("claude-sonnet-4-20250514", 3.00, 3.75, 6.00, 0.30, 15.00)]
    [InlineData("claude-3-7-sonnet-20250219", 3.00, 3.75, 6.00, 0.30, 15.00)]
    [InlineData("claude-haiku-4-5-20251001", 1.00, 1.25, 2.00, 0.10, 5.00)]
    [InlineData("claude-3-5-haiku-20241022", 0.80, 1.00, 1.60, 0.08, 4.00)]
    [InlineData("claude-3-haiku-20240307", 0.25, 0.30, 0.50, 0.03, 1.25)]
    public void BuiltInClaudePrices_AreAnthropicsPublishedOnes(string model, double input, double write5m, double write1h, double read, double output)
    {
        Assert.True(Table.TryGetPrice(model, out var p), model);
        Assert.Equal((decimal)input, p.Input);
        Assert.Equal((decimal)write5m, p.CacheWrite);
        Assert.Equal((decimal)write1h, p.CacheWrite1h);
        Assert.Equal((decimal)read, p.CachedInput);
        Assert.Equal((decimal)output, p.Output);
    }

    [Fact]
    public void InputTokens_ExcludeTheCache_SoCacheTokensAreAddedNotSubtracted()
    {
        // Sonnet 4.5: 1,000 input × $3 + 4,000 cache reads × $0.30 + 500 output × $15 = $0.003 + $0.0012 + $0.0075 = $0.0117.
        Assert.Equal(11_700_000, Cost("claude-sonnet-4-5", new(InputTokens: 1_000, CacheReadTokens: 4_000, OutputTokens: 500)));
        Assert.Equal(5_000, new AnthropicUsage(InputTokens: 1_000, CacheReadTokens: 4_000).ToUsage().InputTokens);
    }

    [Fact]
    public void FiveMinuteCacheWrites_Cost125PercentOfInput_AndAreNotBilledAgainAsInput()
    {
        // Sonnet 4.5: 100 input × $3 + 10,000 5-minute writes × $3.75 = $0.0003 + $0.0375 = $0.0378 (not + 10,000 × $3 again).
        Assert.Equal(37_800_000, Cost("claude-sonnet-4-5", new(InputTokens: 100, CacheCreationTokens: 10_000, Write5mTokens: 10_000, Write1hTokens: 0)));
    }

    [Fact]
    public void OneHourCacheWrites_CostTwiceInput()
    {
        // Sonnet 4.5: 100 input × $3 + 10,000 1-hour writes × $6 = $0.0003 + $0.06 = $0.0603.
        Assert.Equal(60_300_000, Cost("claude-sonnet-4-5", new(InputTokens: 100, CacheCreationTokens: 10_000, Write5mTokens: 0, Write1hTokens: 10_000)));
    }

    [Fact]
    public void MixedWrites_AreSplitByDuration_AndAWriteTotalTheSplitDoesNotCover_IsBilledAsFiveMinuteWrites()
    {
        // Haiku 4.5: 3,000 written, split 1,000 (5m) + 1,500 (1h), 500 not in the split (a server-tool stream's final total):
        // 1,500 × $2 + (1,000 + 500) × $1.25 + 10 input × $1 = $0.003 + $0.001875 + $0.00001 = $0.004885.
        Assert.Equal(4_885_000, Cost("claude-haiku-4-5",
            new(InputTokens: 10, CacheCreationTokens: 3_000, Write5mTokens: 1_000, Write1hTokens: 1_500)));
    }

    [Fact]
    public void CacheReads_CostATenthOfInput()
    {
        // Opus 4.6: 100,000 cache reads × $0.50 = $0.05.
        Assert.Equal(50_000_000, Cost("claude-opus-4-6", new(InputTokens: 0, CacheReadTokens: 100_000, OutputTokens: 0)));
    }

    [Fact]
    public void Opus55_CacheReads_CostATwentiethOfInput()
    {
        // Claude Code's default model, one turn: 2,000 input × $4 + 140,000 cache reads × $0.20 (0.05 × $4) + 8,000 1-hour
        // writes × $8 + 1,500 output × $20 = $0.008 + $0.028 + $0.064 + $0.03 = $0.13 (at 0.1 × input the reads alone were $0.056).
        Assert.Equal(130_000_000, Cost("claude-opus-5-5",
            new(InputTokens: 2_000, CacheReadTokens: 140_000, CacheCreationTokens: 8_000, Write5mTokens: 0, Write1hTokens: 8_000,
                OutputTokens: 1_500)));
    }

    [Fact]
    public void Sonnet55_CacheReads_CostATwentiethOfInput_SinceTheSeventhOfOctober()
    {
        // 100,000 cache reads × $0.10 (0.05 × $2; $0.20 before Anthropic's 2026-10-07 cut) = $0.01.
        Assert.Equal(10_000_000, Cost("claude-sonnet-5-5", new(InputTokens: 0, CacheReadTokens: 100_000, OutputTokens: 0)));
    }

    [Theory]
    [InlineData("claude-fable-5-1")]
    [InlineData("claude-mythos-5-1")]
    public void Fable51AndMythos51_CacheReads_CostTheFootnotedQuarterDollar(string model)
    {
        // 100,000 cache reads × $0.25 (0.025 × $10, the pricing table's footnoted cache-hit price) + 1,000 5-minute writes
        // × $12.50 = $0.025 + $0.0125 = $0.0375. Fable 5 and Mythos 5 read the same cache at $1: $0.10 + $0.0125 = $0.1125.
        var usage = new AnthropicUsage(InputTokens: 0, CacheReadTokens: 100_000, CacheCreationTokens: 1_000, Write5mTokens: 1_000, Write1hTokens: 0);
        Assert.Equal(37_500_000, Cost(model, usage));
        Assert.Equal(112_500_000, Cost(model[..^2], usage));
    }

    [Theory]
    [InlineData("claude-fable-5-1")]
    [InlineData("claude-mythos-5-1")]
    [InlineData("claude-fable-5")]
    [InlineData("claude-mythos-5")]
    [InlineData("claude-opus-5-5")]
    [InlineData("claude-opus-5")]
    [InlineData("claude-sonnet-5-5")]
    [InlineData("claude-sonnet-5")]
    public void Claude5Models_HaveOnePriceAtAnyPromptLength(string model)
    {
        Assert.True(Table.TryGetPrice(model, out var price), model);
        Assert.Null(price.LongContext);
        Assert.Same(price, price.For(900_000));
    }

    [Fact]
    public void ThinkingTokens_AreInsideOutputTokens_AndBilledOnce()
    {
        // Opus 4.6: 2,000 output of which 1,500 thinking × $25 = $0.05 (not 3,500 × $25).
        var usage = new AnthropicUsage(InputTokens: 0, OutputTokens: 2_000, ThinkingTokens: 1_500);
        Assert.Equal(50_000_000, Cost("claude-opus-4-6", usage));
        Assert.Equal(1_500, usage.ToUsage().ReasoningTokens);
    }

    [Fact]
    public void Sonnet45_OverTwoHundredThousandInputTokensCacheIncluded_BillsEveryTokenAtTheLongContextPrices()
    {
        // 1,000 input + 150,000 cache reads + 50,000 5m writes = 201,000 > 200,000: long context for all of it:
        // 1,000 × $6 + 150,000 × $0.60 + 50,000 × $7.50 + 1,000 output × $22.50 = $0.006 + $0.09 + $0.375 + $0.0225 = $0.4935.
        Assert.Equal(493_500_000, Cost("claude-sonnet-4-5",
            new(InputTokens: 1_000, CacheReadTokens: 150_000, CacheCreationTokens: 50_000, Write5mTokens: 50_000, OutputTokens: 1_000)));

        // 1,000 fewer cache reads: exactly 200,000, at the standard prices:
        // 1,000 × $3 + 149,000 × $0.30 + 50,000 × $3.75 + 1,000 × $15 = $0.003 + $0.0447 + $0.1875 + $0.015 = $0.2502.
        Assert.Equal(250_200_000, Cost("claude-sonnet-4-5",
            new(InputTokens: 1_000, CacheReadTokens: 149_000, CacheCreationTokens: 50_000, Write5mTokens: 50_000, OutputTokens: 1_000)));
    }

    [Fact]
    public void LongContext_ScalesOneHourWritesToo()
    {
        // Sonnet 4: 250,000 1-hour writes: 250,000 × $12 (2 × $6) = $3.
        Assert.Equal(3_000_000_000, Cost("claude-sonnet-4", new(InputTokens: 0, CacheCreationTokens: 250_000, Write1hTokens: 250_000)));
    }

    [Fact]
    public void Sonnet46_HasNoLongContextPremium()
    {
        // 300,000 input × $3 = $0.90.
        Assert.Equal(900_000_000, Cost("claude-sonnet-4-6", new(InputTokens: 300_000)));
    }

    [Fact]
    public void AStreamsCumulativeDelta_ReplacesCountsNeverAddsThem()
    {
        var start = new AnthropicUsage(InputTokens: 25, OutputTokens: 1, CacheReadTokens: 5, CacheCreationTokens: 10, Write5mTokens: 10,
            Write1hTokens: 0);
        var end = start.Then(new AnthropicUsage(InputTokens: 40, OutputTokens: 8, CacheReadTokens: 7, CacheCreationTokens: 12, ThinkingTokens: 3));

        Assert.Equal(new Usage(40 + 7 + 12, 7, 8, 3, 12, 0), end.ToUsage());
        Assert.Equal(new AnthropicUsage(25, 15, 5, 10, 10, 0), start.Then(new AnthropicUsage(OutputTokens: 15)));
    }
}
