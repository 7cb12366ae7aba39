using LlmFunctions.Core;
using LlmFunctions.Core.Budgets;
using Microsoft.Extensions.Configuration;

namespace LlmFunctions.Tests.Budgets;

public sealed class BudgetsOptionsTests
{
    private static BudgetsOptions Bind(Dictionary<string, string?> values)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var options = new BudgetsOptions();
        BudgetsBinder.Bind(config.GetSection("Budgets"), options);
        return options;
    }

    [Fact]
    public void Defaults_AreUtcEveryFiveMinutesAndNoGuard()
    {
        var o = Bind([]);
        Assert.Equal("UTC", o.TimeZone);
        Assert.Equal("0 */5 * * * *", o.Schedule);
        Assert.Null(o.MaxCostPerCallUsd);
        Assert.Equal(5, o.RefreshSeconds);
        Assert.Empty(o.Items);
        Assert.True(new BudgetsValidator().Validate(null, o).Succeeded);
    }

    [Fact]
    public void BudgetsByName_AreBoundFromTheSectionChildren()
    {
        var o = Bind(new()
        {
            ["Budgets:TimeZone"] = "Asia/Shanghai",
            ["Budgets:daily:Scope"] = "client:alpha",
            ["Budgets:daily:Period"] = "day",
            ["Budgets:daily:LimitUsd"] = "20",
            ["Budgets:Items:monthly:LimitUsd"] = "300",
            ["Budgets:Items:monthly:Period"] = "month",
        });
        Assert.Equal(["daily", "monthly"], o.Items.Keys.Order());
        Assert.Equal(20m, o.Items["daily"].LimitUsd);
        Assert.Equal("50,80,100", o.Items["daily"].Thresholds);
        Assert.Equal("notify", o.Items["daily"].Action);
    }

    [Theory]
    [InlineData("Budgets:TimeZone", "Mars/Olympus", "Budgets__TimeZone")]
    [InlineData("Budgets:Schedule", "every minute", "Budgets__Schedule")]
    [InlineData("Budgets:b:Scope", "team:x", "Budgets__b__Scope")]
    [InlineData("Budgets:b:Period", "week", "Budgets__b__Period")]
    [InlineData("Budgets:b:Action", "downgrade", "Budgets__b__DowngradeTo")]
    [InlineData("Budgets:b:Thresholds", "50,abc", "Budgets__b__Thresholds")]
    [InlineData("Budgets:MaxCostPerCallUsd", "cheap", "Budgets__MaxCostPerCallUsd")]
    [InlineData("Budgets:RefreshSeconds", "0", "Budgets__RefreshSeconds")]
    [InlineData("Budgets:RefreshSeconds", "soon", "Budgets__RefreshSeconds")]
    [InlineData("Budgets:~current:LimitUsd", "5", "Budgets__~current")]
    public void InvalidSettings_FailNamingTheKey(string key, string value, string named)
    {
        var o = Bind(new() { ["Budgets:b:LimitUsd"] = "5", [key] = value });
        var result = new BudgetsValidator().Validate(null, o);
        Assert.True(result.Failed);
        Assert.Contains(named, result.FailureMessage);
    }

    [Fact]
    public void RefreshSeconds_IsASettingNotABudget()
    {
        var o = Bind(new() { ["Budgets:RefreshSeconds"] = "2" });
        Assert.Equal(2, o.RefreshSeconds);
        Assert.Empty(o.Items);
    }
}
