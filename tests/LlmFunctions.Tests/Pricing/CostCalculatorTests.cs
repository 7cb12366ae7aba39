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

    [Fact]
    public void ManyCalls_SumExactly()
    {
        long sum = 0;
        for (var i = 0; i < 100_000; i++)
        {
            sum += CostCalculator.CostNanoUsd(Gpt41, 10_000, 0, 5_000);
        }

        Assert.Equal(6000m, CostCalculator.ToUsd(sum));
    }
}
