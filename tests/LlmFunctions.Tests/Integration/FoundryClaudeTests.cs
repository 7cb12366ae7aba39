using System.Net;
using System.Text;
using Azure.Core;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// Issue 29: Claude on Azure AI Foundry (<c>Upstreams__&lt;name&gt;__Kind=azure-anthropic</c>), against the fake upstream's
/// <c>/anthropic/v1/messages</c>: with an <c>api-key</c>, or with the managed identity's token for
/// <c>https://ai.azure.com/.default</c>; beside an Anthropic-kind upstream it falls back to.
/// </summary>
public sealed class FoundryClaudeTests
{
    private const string FoundryKey = "foundry-key-do-not-leak";

    private static StringContent Body(string model) =>
        new($$"""{"model":"{{model}}","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");

    [Fact]
    public async Task WithAKey_CallsGoToTheFoundryAnthropicPath_WithApiKey_AndAreBilledExactly()
    {
        await using var foundry = new FakeOpenAI { Default = new Scenario { PromptTokens = 200, CachedTokens = 1_000, Words = 10 } };
        var origin = (await foundry.StartAsync())[..^"/v1".Length];
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Upstreams:foundry:Kind"] = "azure-anthropic";
            s["Upstreams:foundry:BaseUrl"] = origin + "/anthropic";
            s["Upstreams:foundry:ApiKey"] = FoundryKey;
            s["Upstreams:foundry:Models"] = "claude-sonnet-4-5";
        });
        using var http = env.Host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/messages?beta=true", Body("claude-sonnet-4-5"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("/anthropic/v1/messages", Assert.Single(foundry.SeenPaths));
        var seen = Assert.Single(foundry.SeenHeaders);
        Assert.Equal(FoundryKey, seen["api-key"].ToString());
        Assert.False(seen.ContainsKey("x-api-key"));
        Assert.False(seen.ContainsKey("Authorization"));
        Assert.Equal("2023-06-01", seen["anthropic-version"].ToString());
        var r = await env.SingleRecordAsync();
        Assert.Equal("foundry", r.GetString("Upstream"));
        // 200 × $3 + 1,000 reads × $0.30 + 10 × $15 = 600 + 300 + 150 USD/M = $0.00105.
        Assert.Equal(1_050_000, r.GetInt64("CostNanoUsd"));
        Assert.Equal(0, env.Upstream.Requests);
        Assert.DoesNotContain(FoundryKey, env.Host.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutAKey_TheManagedIdentitysTokenForAiAzureCom_IsSentAsBearer_AndAnAnthropicUpstreamIsTheFallback()
    {
        await using var foundry = new FakeOpenAI();
        var origin = (await foundry.StartAsync())[..^"/v1".Length];
        var credential = new FakeCredential("mi-token-do-not-leak");
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Upstreams:foundry:Kind"] = "azure-anthropic";
            s["Upstreams:foundry:BaseUrl"] = origin + "/anthropic/";
            s["Upstreams:foundry:Models"] = "claude-haiku-4-5";
            s["Upstreams:anthropic:Kind"] = "anthropic";
            s["Upstreams:anthropic:BaseUrl"] = s["Upstream:BaseUrl"]![..^"/v1".Length];
            s["Upstreams:anthropic:ApiKey"] = "sk-ant-fallback";
            s["Upstreams:anthropic:Models"] = "claude-*";
        });
        await using var host = await ProxyHost.StartAsync(env.Settings, s => s.AddSingleton<TokenCredential>(credential));
        using var http = host.CreateHttpClient();

        for (var i = 0; i < 2; i++)
        {
            using var response = await http.PostAsync("/v1/messages", Body("claude-haiku-4-5"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(1, credential.Calls);
        Assert.Equal("https://ai.azure.com/.default", Assert.Single(credential.Scopes.Distinct()));
        Assert.All(foundry.SeenHeaders, h => Assert.Equal("Bearer mi-token-do-not-leak", h["Authorization"].ToString()));

        // Foundry overloaded: the call falls back to the Anthropic upstream, with its own key, never Foundry's token.
        foundry.Default = new Scenario { Status = 529 };
        using (var response = await http.PostAsync("/v1/messages", Body("claude-haiku-4-5")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var fallback = Assert.Single(env.Upstream.SeenHeaders);
        Assert.Equal("sk-ant-fallback", fallback["x-api-key"].ToString());
        Assert.False(fallback.ContainsKey("Authorization"));
        Assert.Equal("/v1/messages", Assert.Single(env.Upstream.SeenPaths));
        Assert.DoesNotContain("mi-token-", host.Log, StringComparison.Ordinal);
    }
}
