using LlmFunctions.Core;
using LlmFunctions.Core.Pricing;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Tests.Pricing;

public sealed class PriceTableTests
{
    private static PriceTable Table(Dictionary<string, ModelPriceOptions>? overrides = null) =>
        new(Options.Create(new PricingOptions { Models = overrides ?? [] }));

    [Theory]
    [InlineData("gpt-4.1", 2.00, 8.00)]
    [InlineData("claude-sonnet-4.5", 3.00, 15.00)]
    [InlineData("gemini-2.5-flash", 0.35, 2.50)]
    [InlineData("deepseek-v3.2", 0.14, 0.42)]
    public void BriefModels_HaveTheBriefsPrices(string model, double input, double output)
    {
        Assert.True(Table().TryGetPrice(model, out var price));
        Assert.Equal((decimal)input, price.Input);
        Assert.Equal((decimal)output, price.Output);
    }

    [Theory]
    [InlineData("gpt-4.1-2025-04-14")]
    [InlineData("GPT-4.1")]
    [InlineData("openai/gpt-4.1")]
    [InlineData("openai/gpt-4.1-20250414")]
    public void SnapshotCaseAndProviderPrefix_MatchTheBaseModel(string model)
    {
        Assert.True(Table().TryGetPrice(model, out var price));
        Assert.Equal(2.00m, price.Input);
    }

    [Theory]
    [InlineData("my-private-model")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("gpt-4.1x")]
    public void UnknownModel_IsUnpriced(string? model) => Assert.False(Table().TryGetPrice(model, out _));

    [Fact]
    public void Override_ReplacesBuiltInAndAddsNewModels()
    {
        var table = Table(new()
        {
            ["gpt-4.1"] = new ModelPriceOptions { Input = 1.5m },
            ["my-model"] = new ModelPriceOptions { Input = 1m, Output = 2m },
        });

        Assert.True(table.TryGetPrice("gpt-4.1", out var gpt));
        Assert.Equal(new ModelPrice(1.5m, 0.50m, 8.00m), gpt);
        Assert.True(table.TryGetPrice("my-model", out var mine));
        Assert.Equal(new ModelPrice(1m, 1m, 2m), mine);
    }

    [Fact]
    public void Override_KeyedBySafeName_NamesTheModel()
    {
        var table = Table(new() { ["gpt_4o_mini"] = new ModelPriceOptions { Model = "gpt-4o-mini", Input = 0.2m } });
        Assert.True(table.TryGetPrice("gpt-4o-mini", out var price));
        Assert.Equal(0.2m, price.Input);
        Assert.Equal(0.60m, price.Output);
    }

    [Fact]
    public void OverrideOfUnknownModelWithoutOutput_FailsNamingTheKey()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Table(new() { ["x"] = new ModelPriceOptions { Input = 1m } }));
        Assert.Contains("Pricing__Models__x__Output", ex.Message);
    }

    [Fact]
    public void BuiltInTable_CoversEveryVendor()
    {
        var table = Table();
        foreach (var model in new[] { "gpt-5", "o4-mini", "claude-opus-4.1", "gemini-2.5-pro", "deepseek-chat", "qwen-max" })
        {
            Assert.True(table.TryGetPrice(model, out _), model);
        }
    }

    [Fact]
    public void BuiltInLongContextTiers_AndCacheWritePrices_Load_AndAnOverrideOfTheBasePricesDropsTheTier()
    {
        Assert.True(Table().TryGetPrice("claude-sonnet-4.5", out var sonnet));
        Assert.Equal(3.75m, sonnet.CacheWrite);
        Assert.Equal(200_000, sonnet.LongContext!.Above);
        Assert.Equal(new ModelPrice(6.00m, 0.60m, 22.50m, 7.50m, CacheWrite1h: 12.00m), sonnet.LongContext.Price);
        Assert.True(Table().TryGetPrice("gemini-2.5-pro-2025-06-05", out var gemini));
        Assert.Equal(2.50m, gemini.For(200_001).Input);
        Assert.Equal(1.25m, gemini.For(200_000).Input);
        Assert.True(Table().TryGetPrice("gpt-4.1", out var gpt));
        Assert.Null(gpt.CacheWrite);
        Assert.Null(gpt.LongContext);

        var overridden = Table(new() { ["claude-sonnet-4.5"] = new ModelPriceOptions { Input = 2.00m } });
        Assert.True(overridden.TryGetPrice("claude-sonnet-4.5", out var mine));
        Assert.Equal(new ModelPrice(2.00m, 0.30m, 15.00m, 3.75m, CacheWrite1h: 6.00m), mine);

        var cacheWrite = Table(new() { ["gpt-4.1"] = new ModelPriceOptions { CacheWrite = 2.50m } });
        Assert.True(cacheWrite.TryGetPrice("gpt-4.1", out var written));
        Assert.Equal(2.50m, written.CacheWrite);
    }

    [Theory]
    [InlineData("gpt-4.1", "gpt-4.1")]
    [InlineData("GPT-4.1", "gpt-4.1")]
    [InlineData(" gpt-4.1 ", "gpt-4.1")]
    [InlineData("openai/gpt-4.1", "gpt-4.1")]
    [InlineData("gpt-4.1-2025-04-14", "gpt-4.1")]
    [InlineData("openai/GPT-4.1-20250414", "gpt-4.1")]
    [InlineData("gtp-4.1", "gtp-4.1")] // unpriced: still one spelling
    [InlineData("Mystery-Model-2025-01-01", "mystery-model")]
    public void Canonical_IsTheOneNameAModelIsPricedBudgetedAndLabelledUnder(string model, string canonical)
    {
        var table = Table();
        Assert.Equal(canonical, table.Canonical(model));
        Assert.Equal(table.TryGetPrice(model, out var a), table.TryGetPrice(canonical, out var b));
        Assert.Equal(a, b);
    }

    [Fact]
    public void Canonical_KeepsASnapshotThatHasAPriceOfItsOwn()
    {
        var table = Table(new() { ["old"] = new ModelPriceOptions { Model = "gpt-4o-2024-05-13", Input = 5, Output = 15 } });
        Assert.Equal("gpt-4o-2024-05-13", table.Canonical("openai/gpt-4o-2024-05-13"));
        Assert.Equal("gpt-4o", table.Canonical("gpt-4o-2024-08-06"));
    }
}
