using System.Net;
using System.Text;
using Azure.Core;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// Azure OpenAI upstreams against the fake upstream's Azure shapes: deployments with <c>api-version</c> and the
/// <c>api-key</c> header, and the v1 path with a managed-identity token.
/// </summary>
public sealed class AzureOpenAITests
{
    private const string AzureKey = "azure-key-test-do-not-leak";

    [Theory]
    [OnBothHosts]
    public async Task Deployments_GetTheDeploymentPathTheApiVersionAndTheApiKey_StreamingOrNot(HostKind kind)
    {
        await using var azure = new FakeOpenAI();
        var origin = (await azure.StartAsync())[..^"/v1".Length];
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Upstreams:aoai:Kind"] = "azure-openai";
            s["Upstreams:aoai:BaseUrl"] = origin;
            s["Upstreams:aoai:ApiKey"] = AzureKey;
            s["Upstreams:aoai:ApiVersion"] = "2024-10-21";
            s["Upstreams:aoai:Models"] = "gpt-4o,gpt-4o-mini";
            s["Upstreams:aoai:Deployments"] = "gpt-4o=prod-4o";
        }, kind: kind);
        using var http = env.Host.CreateHttpClient();

        using (var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using (var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o-mini", stream: true)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("[DONE]", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(
            ["/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21",
             "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"],
            azure.SeenPaths);
        Assert.All(azure.SeenHeaders, h =>
        {
            Assert.Equal(AzureKey, h["api-key"].ToString());
            Assert.False(h.ContainsKey("Authorization"));
        });
        Assert.Equal(0, env.Upstream.Requests);

        var records = await env.RecordsAsync(2);
        Assert.All(records, r =>
        {
            Assert.Equal("aoai", r.GetString("Upstream"));
            Assert.True(r.GetBoolean("Priced"));
            Assert.True(r.GetInt64("CostNanoUsd") > 0);
        });
        Assert.DoesNotContain(AzureKey, env.Host.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheManagedIdentity_GetsOneTokenForManyCalls_SendsItAsBearer_AndRenewsItNearExpiry()
    {
        await using var azure = new FakeOpenAI();
        var origin = (await azure.StartAsync())[..^"/v1".Length];
        var credential = new FakeCredential("mi-token-one-do-not-leak");
        var clock = new TestClock();
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Upstreams:aoai:Kind"] = "azure-openai";
            s["Upstreams:aoai:BaseUrl"] = origin + "/openai/v1";
            s["Upstreams:aoai:Models"] = "gpt-4o-mini";
        });
        await using var host = await ProxyHost.StartAsync(env.Settings, s =>
        {
            s.AddSingleton<TokenCredential>(credential);
            s.AddSingleton<TimeProvider>(clock);
        });
        using var http = host.CreateHttpClient();

        for (var i = 0; i < 3; i++)
        {
            using var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o-mini"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(1, credential.Calls);
        Assert.Equal("https://cognitiveservices.azure.com/.default", Assert.Single(credential.Scopes.Distinct()));
        Assert.All(azure.SeenPaths, p => Assert.Equal("/openai/v1/chat/completions", p));
        Assert.All(azure.SeenHeaders, h => Assert.Equal("Bearer mi-token-one-do-not-leak", h["Authorization"].ToString()));

        // Within 5 minutes of expiry the next call gets a new token.
        credential.Token = "mi-token-two-do-not-leak";
        clock.Advance(TimeSpan.FromMinutes(56));
        using (var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o-mini")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(2, credential.Calls);
        Assert.Equal("Bearer mi-token-two-do-not-leak", azure.SeenHeaders.Last()["Authorization"].ToString());

        // No token: the call falls back to the default upstream; the token never shows anywhere.
        credential.Fail = true;
        clock.Advance(TimeSpan.FromHours(2));
        using (var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o-mini")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(4, azure.Requests);
        Assert.Equal(1, env.Upstream.Requests);
        Assert.Contains("No managed-identity token for upstream aoai (CredentialUnavailableException)", host.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("mi-token-", host.Log, StringComparison.Ordinal);
    }
}
