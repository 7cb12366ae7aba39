using System.Text.Json.Nodes;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Hosting;

/// <summary>The Functions app's generated <c>functions.metadata</c> (what the Functions host loads).</summary>
public sealed class FunctionMetadataTests
{
    private static JsonArray Metadata()
    {
        var bin = Repo.Path("functions", "LlmFunctions", "bin");
        var file = Directory.GetFiles(bin, "functions.metadata", SearchOption.AllDirectories)
            .OrderByDescending(File.GetLastWriteTimeUtc)
            .FirstOrDefault() ?? throw new InvalidOperationException("functions.metadata not found: build functions/LlmFunctions first.");
        return JsonNode.Parse(File.ReadAllText(file))!.AsArray();
    }

    private static JsonObject Function(string name) =>
        Metadata().Single(f => f!["name"]!.GetValue<string>() == name)!.AsObject();

    [Fact]
    public void App_DeclaresExactlyItsFunctions() =>
        Assert.Equal(
            ["BudgetRollup", "Health", "Key", "KeyEvents", "KeyRotate", "Keys", "Metrics", "NotFound", "NotFoundRoot", "Proxy", "SpendCalls", "SpendMe",
                "SpendReport"],
            Metadata().Select(f => f!["name"]!.GetValue<string>()).Order(StringComparer.Ordinal));

    [Theory]
    [InlineData("Proxy", "v1/{*path}", new[] { "get", "post", "put", "patch", "delete" })]
    [InlineData("Metrics", "metrics", new[] { "get" })]
    [InlineData("Health", "health", new[] { "get" })]
    [InlineData("SpendReport", "spend", new[] { "get" })]
    [InlineData("SpendCalls", "spend/calls", new[] { "get" })]
    [InlineData("SpendMe", "spend/me", new[] { "get" })]
    [InlineData("Keys", "keys", new[] { "get", "post", "put", "patch", "delete" })]
    [InlineData("Key", "keys/{id}", new[] { "get", "post", "put", "patch", "delete" })]
    [InlineData("KeyRotate", "keys/{id}/rotate", new[] { "get", "post", "put", "patch", "delete" })]
    [InlineData("KeyEvents", "keys/{id}/events", new[] { "get", "post", "put", "patch", "delete" })]
    [InlineData("NotFound", "{*path:regex(^(?!(v1|health|metrics|spend|keys)(/|$)).*$)}", new[] { "get", "post", "put", "patch", "delete", "head", "options" })]
    [InlineData("NotFoundRoot", "{root:regex(^$)?}", new[] { "get", "post", "put", "patch", "delete", "head", "options" })]
    public void HttpFunctions_HaveTheirRoutesMethodsAndAnonymousAuth(string name, string route, string[] methods)
    {
        var trigger = Function(name)["bindings"]!.AsArray().Single(b => b!["type"]!.GetValue<string>() == "httpTrigger")!;
        Assert.Equal(route, trigger["route"]!.GetValue<string>());
        Assert.Equal("Anonymous", trigger["authLevel"]!.GetValue<string>());
        Assert.Equal(methods.Order(), trigger["methods"]!.AsArray().Select(m => m!.GetValue<string>()).Order());
    }

    [Fact]
    public void BudgetRollup_IsATimerOnTheBudgetsSchedule()
    {
        var trigger = Function("BudgetRollup")["bindings"]!.AsArray().Single()!;
        Assert.Equal("timerTrigger", trigger["type"]!.GetValue<string>());
        Assert.Equal("%BudgetsSchedule%", trigger["schedule"]!.GetValue<string>());
    }

    [Fact]
    public void HostJson_HasNoRoutePrefix_SoTheFunctionUrlPlusV1IsTheOpenAIBase()
    {
        var host = JsonNode.Parse(File.ReadAllText(Repo.Path("host.json")))!;
        Assert.Equal("", host["extensions"]!["http"]!["routePrefix"]!.GetValue<string>());
        var output = Directory.GetFiles(Repo.Path("functions", "LlmFunctions", "bin"), "host.json", SearchOption.AllDirectories);
        Assert.NotEmpty(output);
    }

    /// <summary>
    /// The worker reports through OpenTelemetry (UseFunctionsWorkerDefaults, the Azure Monitor exporter): the host must
    /// too, or it keeps the classic Application Insights pipeline and its sampling applies to half the telemetry.
    /// </summary>
    [Fact]
    public void HostJson_ReportsThroughOpenTelemetry_LikeTheWorker_WithNoClassicSampling()
    {
        var host = JsonNode.Parse(File.ReadAllText(Repo.Path("host.json")))!;

        Assert.Equal("OpenTelemetry", host["telemetryMode"]!.GetValue<string>());
        Assert.Null(host["logging"]!["applicationInsights"]);
    }
}
