using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Infra;

/// <summary>
/// Issue 31: what Flex Consumption accepts, held offline on the evaluated deployment (<c>bicep snapshot</c>) and on the
/// built app's <c>functions.metadata</c>.
/// </summary>
public sealed class FlexContractTests
{
    /// <summary>The .NET isolated versions Flex Consumption runs (its runtime table, as pinned here).</summary>
    private static readonly HashSet<(string Name, string Version)> FlexRuntimes =
        [("dotnet-isolated", "8.0"), ("dotnet-isolated", "9.0"), ("dotnet-isolated", "10.0")];

    [Fact]
    public void TheFlexSite_RunsAPinnedRuntime_WithinTheMemoryInstanceAndConcurrencyBoundsFlexAccepts()
    {
        var config = FlexConfig(BicepCompilation.Snapshot("FlexConsumption"));

        var runtime = config["runtime"]!;
        Assert.Contains(((string)runtime["name"]!, (string)runtime["version"]!), FlexRuntimes);
        var scale = config["scaleAndConcurrency"]!;
        Assert.Contains((int)scale["instanceMemoryMB"]!, new[] { 512, 2048, 4096 });
        Assert.InRange((int)scale["maximumInstanceCount"]!, 40, 1000);
        Assert.InRange((int)scale["triggers"]!["http"]!["perInstanceConcurrency"]!, 17, 1000); // above Flex's default of 16
        Assert.Null(scale["alwaysReady"]); // scale to zero unless asked

        var parameters = BicepCompilation.Template["parameters"]!;
        Assert.Equal(40, (int)parameters["flexMaximumInstanceCount"]!["minValue"]!);
        Assert.Equal(1000, (int)parameters["flexMaximumInstanceCount"]!["maxValue"]!);
        Assert.Equal([512, 2048, 4096], parameters["flexInstanceMemoryMB"]!["allowedValues"]!.AsArray().Select(v => (int)v!));
    }

    [Fact]
    public void AlwaysReadyInstances_WhenAsked_KeepHttpWarm()
    {
        var (resources, error) = BicepCompilation.TrySnapshot("FlexConsumption", "eastus", ["flexAlwaysReadyInstances = 2"]);

        var alwaysReady = Assert.Single(FlexConfig(resources ?? throw new InvalidOperationException(error))["scaleAndConcurrency"]!["alwaysReady"]!.AsArray());
        Assert.Equal("http", (string?)alwaysReady!["name"]);
        Assert.Equal(2, (int)alwaysReady["instanceCount"]!);
    }

    /// <summary>A Flex deployment in a region that does not offer it fails before anything is created, saying what to do.</summary>
    [Fact]
    public void AFlexDeploymentOutsideTheKnownRegions_FailsNamingTheWayOut_OtherPlansDeployThere()
    {
        var (flex, error) = BicepCompilation.TrySnapshot("FlexConsumption", "brazilsouth", []);
        Assert.Null(flex);
        Assert.Contains("Flex Consumption is not offered in 'brazilsouth'", error, StringComparison.Ordinal);
        Assert.Contains("extraFlexRegions", error, StringComparison.Ordinal);

        Assert.NotNull(BicepCompilation.TrySnapshot("FlexConsumption", "brazilsouth", ["extraFlexRegions = ['brazilsouth']"]).Resources);
        Assert.NotNull(BicepCompilation.TrySnapshot("AppService", "brazilsouth", []).Resources);
    }

    /// <summary>
    /// Every <c>%Name%</c> the built app's bindings use is a flat app setting the template sets: the host resolves it at
    /// indexing (a missing one stops the app), and timers bound to nested names fire unreliably (Azure/azure-functions-host#8649).
    /// </summary>
    [Theory]
    [InlineData("FlexConsumption")]
    [InlineData("ElasticPremium")]
    [InlineData("AppService")]
    public void EveryBindingExpressionOfTheBuiltApp_IsAFlatSettingTheTemplateSets(string planType)
    {
        var metadata = File.ReadAllText(Path.Combine(FunctionsWorkerHost.AppDirectory, "functions.metadata"));
        var names = Regex.Matches(metadata, "%([^%\"]+)%").Select(m => m.Groups[1].Value).Distinct().ToList();
        var settings = BicepCompilation.Snapshot(planType)
            .Where(r => (string?)r!["type"] == "Microsoft.Web/sites/config" && ((string?)r!["name"])?.EndsWith("/appsettings", StringComparison.Ordinal) == true)
            .SelectMany(r => r!["properties"]!.AsObject().Select(p => p.Key)).ToHashSet(StringComparer.OrdinalIgnoreCase);

        Assert.NotEmpty(names); // the timer's schedule, at least
        Assert.All(names, name =>
        {
            Assert.DoesNotContain(":", name, StringComparison.Ordinal);
            Assert.DoesNotContain("__", name, StringComparison.Ordinal);
            Assert.Contains(name, settings);
        });
    }

    private static JsonNode FlexConfig(JsonArray resources) =>
        resources.Single(r => (string?)r!["type"] == "Microsoft.Web/sites")!["properties"]!["functionAppConfig"]!;
}
