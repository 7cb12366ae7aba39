using System.Net;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Integration;

/// <summary>A typo is not a free call (issue 30): unpriced calls are logged once per model, and can be refused.</summary>
public sealed class UnpricedModelTests
{
    [Theory]
    [OnBothHosts]
    public async Task WithRefuseUnpriced_AModelWithoutAPriceGets400_AndIsNotForwarded(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(s => s["Pricing:RefuseUnpriced"] = "true", kind: kind);
        using var http = env.Host.CreateHttpClient();

        using var typo = await http.PostAsync("/v1/chat/completions", ChatBody.For("gtp-4.1"));
        using var priced = await http.PostAsync("/v1/chat/completions", ChatBody.For("openai/gpt-4.1"));

        Assert.Equal(HttpStatusCode.BadRequest, typo.StatusCode);
        await ProxyTests.AssertErrorAsync(typo, "model_not_priced");
        Assert.Equal(HttpStatusCode.OK, priced.StatusCode);
        Assert.Equal(1, env.Upstream.Requests);
        var records = await env.RecordsAsync(2);
        Assert.Contains(records, r => r.GetString("Model") == "gtp-4.1" && r.GetInt32("StatusCode") == 400);
    }

    [Fact]
    public async Task ByDefault_AnUnpricedModelIsForwardedRecordedAtZero_AndLoggedOnceAsAWarning()
    {
        await using var env = await TestEnvironment.StartAsync();
        using var http = env.Host.CreateHttpClient();

        for (var i = 0; i < 3; i++)
        {
            using var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gtp-4.1"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var records = await env.RecordsAsync(3);
        Assert.All(records, r => Assert.False(r.GetBoolean("Priced")));
        var warnings = env.Local.Logs.All.Split('\n').Count(l => l.Contains("Model gtp-4.1 has no price", StringComparison.Ordinal));
        Assert.Equal(1, warnings);
        Assert.Contains("model=gtp-4.1 status=200 outcome=ok tokens=", env.Local.Log, StringComparison.Ordinal); // one line per call, with tokens and cost
    }
}
