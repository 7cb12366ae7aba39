using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using LlmFunctions.Tests.Infrastructure;
using static LlmFunctions.Tests.Infrastructure.KeysAdmin;

namespace LlmFunctions.Tests.Integration;

/// <summary>Issue 29 with virtual keys: a key from the admin API works as x-api-key on /v1/messages, with its limits.</summary>
public sealed class AnthropicVirtualKeyTests
{
    private static HttpRequestMessage Messages(string key, string model)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
        {
            Content = new StringContent($$"""{"model":"{{model}}","max_tokens":10,"messages":[]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("x-api-key", key);
        return request;
    }

    [Theory]
    [OnBothHosts]
    public async Task AVirtualKeySentAsXApiKey_IsBilledToItsName_AndItsModelsApply(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            WithAdmin(s);
            s["Upstreams:claude:Kind"] = "anthropic";
            s["Upstreams:claude:BaseUrl"] = s["Upstream:BaseUrl"]![..^"/v1".Length];
            s["Upstreams:claude:ApiKey"] = "sk-ant-operator";
            s["Upstreams:claude:Models"] = "claude-*";
        }, kind: kind);
        var (_, secret) = await CreateAsync(env.Host, """{"name":"claude-coders","models":["claude-haiku-*"]}""");
        using var http = ProxyHost.ClientFor(env.Host.BaseUrl, key: null);

        using var ok = await http.SendAsync(Messages(secret, "claude-haiku-4-5"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var r = await env.SingleRecordAsync();
        Assert.Equal(("claude-coders", "/v1/messages"), (r.GetString("Client"), r.GetString("Endpoint")));

        using var refused = await http.SendAsync(Messages(secret, "claude-opus-4-6"));
        var error = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(("error", "permission_error"), ((string?)error["type"], (string?)error["error"]!["type"]));
        Assert.DoesNotContain(secret, error.ToJsonString(), StringComparison.Ordinal);
    }
}
