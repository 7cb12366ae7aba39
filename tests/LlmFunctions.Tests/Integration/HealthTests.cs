using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Integration;

/// <summary><c>/health</c>'s idle signal: what "exactly N records" waits for instead of sleeping (issue 32).</summary>
public sealed class HealthTests
{
    [Theory]
    [OnBothHosts]
    public async Task CallsInFlight_CountTheCallBeingHandled_AndBothCountsAreZeroOnceItsRecordIsStored(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"gpt-4.1","messages":[{"role":"user","content":"health"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("x-fake-scenario", "delay-ms=2000");

        var call = http.SendAsync(request);
        JsonNode during;
        var until = DateTime.UtcNow.AddSeconds(10);
        do
        {
            during = await HealthAsync(env.Host);
        }
        while ((int)during["callsInFlight"]! == 0 && !call.IsCompleted && DateTime.UtcNow < until);

        Assert.Equal(1, (int)during["callsInFlight"]!); // seen while the upstream still delays its answer
        using var response = await call;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        await TestEnvironment.WaitUntilIdleAsync(env.Host, DateTime.UtcNow.AddSeconds(10));
        var after = await HealthAsync(env.Host);
        Assert.Equal(0, (int)after["callsInFlight"]!);
        Assert.Equal(0, (long)after["recordsPending"]!);
        Assert.Single(await env.Azurite.AllCallsAsync()); // idle means stored
    }

    private static async Task<JsonNode> HealthAsync(ITestHost host)
    {
        using var http = host.CreateHttpClient(key: null);
        return JsonNode.Parse(await http.GetStringAsync("/health"))!;
    }
}
