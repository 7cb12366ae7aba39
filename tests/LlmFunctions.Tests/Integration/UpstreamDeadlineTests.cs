using System.Net;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// Upstream__DeadlineSeconds, measured on the wall clock with a 0.9 s margin: it runs alone, so that the load tests
/// running in parallel on two cores cannot stretch it (a fresh-clone CI run measured 3.1 s beside them).
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class UpstreamDeadlineTests
{
    [Theory]
    [OnBothHosts]
    public async Task TheDeadline_BoundsEveryAttemptAndFallbackTogether(HostKind kind)
    {
        await using var slow = new FakeOpenAI { Default = new Scenario { HeaderDelay = TimeSpan.FromSeconds(10) } };
        var slowUrl = await slow.StartAsync();
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Upstream:DeadlineSeconds"] = "2";
            s["Upstreams:slow:BaseUrl"] = slowUrl;
            s["Upstreams:slow:ApiKey"] = "sk-slow";
            s["Upstreams:slow:Models"] = "gpt-4o-mini";
        }, kind: kind);
        env.Upstream.Default = new Scenario { HeaderDelay = TimeSpan.FromSeconds(10) };
        using var http = env.Host.CreateHttpClient();

        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o-mini"));
        var elapsed = watch.Elapsed;
        var error = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("upstream_timeout", error["code"]!.GetValue<string>());
        Assert.Contains("within 2 s", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        // Without the deadline the first attempt alone would run to its 5-s timeout (each upstream answers after 10 s); the
        // rest of the upper bound is a cold worker and a loaded machine.
        Assert.InRange(elapsed, TimeSpan.FromSeconds(1.9), TimeSpan.FromSeconds(4.5));
        var record = await env.SingleRecordAsync();
        Assert.Equal(504, record.GetInt32("StatusCode"));
        Assert.Equal("timeout", record.GetString("Outcome"));
    }
}
