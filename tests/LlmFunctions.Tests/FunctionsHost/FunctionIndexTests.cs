using LlmFunctions.FunctionsHost;
using LlmFunctions.FunctionsHost.Rpc;

namespace LlmFunctions.Tests.FunctionsHost;

/// <summary>How the emulator indexes the worker's metadata: routes, methods, settings, schedules, refusals.</summary>
public sealed class FunctionIndexTests
{
    private static RpcFunctionMetadata Function(string name, params string[] rawBindings)
    {
        var metadata = new RpcFunctionMetadata { Name = name, FunctionId = name + "-id" };
        metadata.RawBindings.Add(rawBindings);
        return metadata;
    }

    private static readonly RpcFunctionMetadata Proxy = Function("Proxy",
        """{"name":"request","direction":"In","type":"httpTrigger","authLevel":"Anonymous","methods":["get","post"],"route":"v1/{*path}"}""",
        """{"name":"$return","type":"http","direction":"Out"}""");

    private static FunctionIndex Build(string routePrefix, Dictionary<string, string> settings, params RpcFunctionMetadata[] functions) =>
        FunctionIndex.Build(functions, routePrefix, new AppSettingsResolver(settings));

    [Theory]
    [InlineData("", "/v1/chat/completions", "chat/completions")]
    [InlineData("api", "/api/v1/chat/completions", "chat/completions")]
    [InlineData("", "/V1/models", "models")]
    public void HttpFunction_MatchesItsPrefixedRoute_AndGivesTheCatchAllValue(string prefix, string path, string expected)
    {
        var proxy = Build(prefix, [], Proxy).Http.Single();

        var values = proxy.Match("POST", path);

        Assert.Equal(expected, values?["path"]);
    }

    [Theory]
    [InlineData("DELETE", "/v1/models")]
    [InlineData("POST", "/v2/models")]
    [InlineData("POST", "/api/v1/models")]
    public void HttpFunction_DoesNotMatchOtherMethodsOrRoutes(string method, string path) =>
        Assert.Null(Build("", [], Proxy).Http.Single().Match(method, path));

    [Fact]
    public void TimerSchedule_ResolvesFromTheAppSettingWithDoubleUnderscores()
    {
        var index = Build("", new() { ["budgets__schedule"] = "*/30 * * * * *" },
            Function("BudgetRollup", """{"name":"timer","direction":"In","type":"timerTrigger","schedule":"%Budgets:Schedule%"}"""));

        var timer = index.Timers.Single();

        Assert.Equal("timer", timer.TriggerBinding);
        Assert.Equal(new DateTime(2026, 1, 1, 0, 0, 30), timer.Schedule.GetNextOccurrence(new DateTime(2026, 1, 1, 0, 0, 1)));
    }

    // The host also takes a TimeSpan ("00:05:00") on App Service plans; the emulator refuses it like Flex Consumption.
    [Theory]
    [InlineData("0 */5 * * *")]
    [InlineData("every five minutes")]
    [InlineData("")]
    public void ScheduleThatIsNotSixFieldNcrontab_IsRefusedWithTheHostsMessage(string schedule)
    {
        var error = Assert.Throws<FunctionIndexingException>(() => Build("", new() { ["Budgets__Schedule"] = schedule },
            Function("BudgetRollup", """{"name":"timer","direction":"In","type":"timerTrigger","schedule":"%Budgets:Schedule%"}""")));

        Assert.Contains("Error indexing method 'Functions.BudgetRollup'.", error.Message);
        Assert.Contains(schedule.Length == 0 ? "does not resolve to a value" : $"The schedule expression '{schedule}' was not recognized", error.Message);
    }

    [Fact]
    public void FunctionWithoutATrigger_IsRefused() =>
        Assert.Throws<FunctionIndexingException>(() => Build("", [], Function("Orphan", """{"name":"x","type":"http","direction":"Out"}""")));
}
