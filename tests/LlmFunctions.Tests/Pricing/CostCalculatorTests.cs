using LlmFunctions.Core.Pricing;

namespace LlmFunctions.Tests.Pricing;

public sealed class CostCalculatorTests
{
    private static readonly ModelPrice Gpt41 = new(2.00m, 0.50m, 8.00m);

    [Fact]
    public void BriefsBatchJob_CostsSixCentsPerCall()
    {
        // 10K input / 5K output on gpt-4.1: 0.02 + 0.04 USD.
        Assert.Equal(60_000_000, CostCalculator.CostNanoUsd(Gpt41, 10_000, 0, 5_000));
    }

    [Fact]
    public void CachedInput_IsBilledAtTheCachedRate()
    {
        // 1000 input of which 400 cached: 600 × 2 + 400 × 0.5 = 1400 USD/M → 1.4 mUSD; 0 output.
        Assert.Equal(1_400_000, CostCalculator.CostNanoUsd(Gpt41, 1000, 400, 0));
    }

    [Fact]
    public void SmallPrices_AreExact()
    {
        var deepseek = new ModelPrice(0.14m, 0.014m, 0.42m);
        Assert.Equal(140 + 420, CostCalculator.CostNanoUsd(deepseek, 1, 0, 1));
        Assert.Equal(0.00000056m, CostCalculator.ToUsd(560));
    }

    [Fact]
    public void CachedMoreThanInput_IsClamped() =>
        Assert.Equal(500_000, CostCalculator.CostNanoUsd(Gpt41, 1000, 5000, 0));

    private static readonly ModelPrice Sonnet45 = new(3.00m, 0.30m, 15.00m, CacheWrite: 3.75m,
        LongContext: new LongContextTier(200_000, new ModelPrice(6.00m, 0.60m, 22.50m, CacheWrite: 7.50m)));

    [Fact]
    public void APromptOfExactlyTheThreshold_IsBilledAtTheStandardPrices()
    {
        // 200,000 × $3 + 1,000 × $15 per 1M = $0.60 + $0.015.
        Assert.Equal(615_000_000, CostCalculator.CostNanoUsd(Sonnet45, 200_000, 0, 1_000));
    }

    [Fact]
    public void APromptOneTokenOverTheThreshold_BillsEveryTokenAtTheLongContextPrices()
    {
        // 200,001 × $6 + 1,000 × $22.50 per 1M = $1.200006 + $0.0225.
        Assert.Equal(1_222_506_000, CostCalculator.CostNanoUsd(Sonnet45, 200_001, 0, 1_000));
    }

    [Fact]
    public void CacheWrites_AreBilledAtTheirPrice_CacheReadsAtTheirs_AndTheRestAsInput()
    {
        // 10,000 input: 2,000 read from the cache ($0.30), 5,000 written to it ($3.75), 3,000 plain ($3); 100 output ($15).
        Assert.Equal((3_000 * 3.00m + 2_000 * 0.30m + 5_000 * 3.75m + 100 * 15.00m) * 1000, CostCalculator.CostNanoUsd(Sonnet45, 10_000, 2_000, 100, 5_000));
        Assert.Equal(29_850_000, CostCalculator.CostNanoUsd(Sonnet45, 10_000, 2_000, 100, 5_000));
    }

    [Fact]
    public void CacheWrites_WithoutACacheWritePrice_CostWhatInputCosts_NeverAGuessedMultiplier()
    {
        Assert.Equal(2_000_000, CostCalculator.CostNanoUsd(Gpt41, 1_000, 0, 0, 400));
    }

    [Fact]
    public void MoreCacheWritesThanUncachedInput_AreCappedAtIt()
    {
        // 1,000 input, 900 cache reads: at most 100 can be writes, whatever the upstream says.
        Assert.Equal((900 * 0.30m + 100 * 3.75m) * 1000, CostCalculator.CostNanoUsd(Sonnet45, 1_000, 900, 0, 5_000));
    }

    [Fact]
    public void ALongPromptWithCacheReads_BillsThemAtTheLongContextCachedPrice()
    {
        // gemini-2.5-pro over 200k: 200,000 × $2.50 + 100,000 cached × $0.625 + 2,000 × $15 per 1M.
        var gemini = new ModelPrice(1.25m, 0.31m, 10.00m, LongContext: new LongContextTier(200_000, new ModelPrice(2.50m, 0.625m, 15.00m)));
        Assert.Equal(592_500_000, CostCalculator.CostNanoUsd(gemini, 300_000, 100_000, 2_000));
    }
}
