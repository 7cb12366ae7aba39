using System.Net;
using System.Text;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// What a client holding a valid key can send to blind or bypass the meter (issue 25): each test names the hostile
/// input and checks that it is refused or metered, and that nobody else's records or budgets suffer for it.
/// </summary>
public sealed class HostileInputTests
{
    [Theory]
    [OnBothHosts]
    public async Task AModelOfFortyThousandCharacters_Gets400_AndTheCallsAfterItAreRecordedAtOnce(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();
        var hostile = $$"""{"model":"{{new string('m', 40_000)}}","messages":[{"role":"user","content":"hi"}]}""";

        using var refused = await http.PostAsync("/v1/chat/completions", new StringContent(hostile, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        await ProxyTests.AssertErrorAsync(refused, "invalid_model");
        Assert.Equal(0, env.Upstream.Requests);
        for (var i = 0; i < 20; i++)
        {
            using var ok = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4.1"));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        // Recorded within seconds, not stuck behind a spooled batch.
        var records = await env.RecordsAsync(21, TimeSpan.FromSeconds(5));
        Assert.Equal(21, records.Count);
        Assert.Single(records, r => r.GetInt32("StatusCode") == 400);
        Assert.Equal(20, records.Count(r => r.GetString("Model") == "gpt-4.1"));
    }
}
