using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// Issue 29: what a key holder (or someone without a key) can send to the Messages paths. Each gets a clear 4xx in
/// Anthropic's shape, nothing reaches the upstream, no key is echoed, and the host serves the next call.
/// </summary>
public sealed class AnthropicHostileInputTests(AnthropicFixture fixture) : IClassFixture<AnthropicFixture>
{
    private const string Valid = """{"model":"claude-haiku-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}""";

    public static TheoryData<string, string, HostKind> BadBodies()
    {
        var rows = new TheoryData<string, string, HostKind>();
        var bodies = new Dictionary<string, string>
        {
            ["max_tokens a string"] = """{"model":"claude-haiku-4-5","max_tokens":"8","messages":[]}""",
            ["max_tokens a fraction"] = """{"model":"claude-haiku-4-5","max_tokens":8.5,"messages":[]}""",
            ["max_tokens missing"] = """{"model":"claude-haiku-4-5","messages":[]}""",
            ["max_tokens zero"] = """{"model":"claude-haiku-4-5","max_tokens":0,"messages":[]}""",
            ["model a number"] = """{"model":5,"max_tokens":8,"messages":[]}""",
            ["model missing"] = """{"max_tokens":8,"messages":[]}""",
            ["stream a string"] = """{"model":"claude-haiku-4-5","max_tokens":8,"stream":"yes","messages":[]}""",
            ["metadata a string"] = """{"model":"claude-haiku-4-5","max_tokens":8,"metadata":"me","messages":[]}""",
            ["user_id a number"] = """{"model":"claude-haiku-4-5","max_tokens":8,"metadata":{"user_id":5},"messages":[]}""",
            ["user_id 10,000 characters"] = $$"""{"model":"claude-haiku-4-5","max_tokens":8,"metadata":{"user_id":"{{new string('u', 10_000)}}"},"messages":[]}""",
            ["thinking budget a string"] = """{"model":"claude-haiku-4-5","max_tokens":8,"thinking":{"type":"enabled","budget_tokens":"x"},"messages":[]}""",
            ["model twice"] = """{"model":"claude-haiku-4-5","model":"claude-opus-4-1","max_tokens":8,"messages":[]}""",
            ["deep JSON"] = """{"model":"claude-haiku-4-5","max_tokens":8,"messages":""" + new string('[', 5_000) + new string(']', 5_000) + "}",
            ["not JSON"] = "{\"model\":",
        };
        foreach (var (name, body) in bodies)
        {
            rows.Add(name, body, HostKind.Local);
            rows.Add(name, body, HostKind.Functions);
        }

        return rows;
    }

    private static async Task<JsonNode> AssertAnthropicErrorAsync(HttpResponseMessage response, HttpStatusCode status, string type)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"{(int)response.StatusCode}: {text}");
        var body = JsonNode.Parse(text)!;
        Assert.Equal("error", (string?)body["type"]);
        Assert.Equal(type, (string?)body["error"]!["type"]);
        return body;
    }

    private async Task AssertStillServesAsync(HostKind kind)
    {
        using var http = fixture.Host(kind).CreateHttpClient();
        using var ok = await http.PostAsync("/v1/messages", new StringContent(Valid, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task ABadBody_Gets400InAnthropicsShape_AndNeverReachesTheUpstream(string name, string body, HostKind kind)
    {
        fixture.Upstream.Default = FakeUpstream.Scenario.Ok;
        var before = fixture.Upstream.Requests;
        using var http = fixture.Host(kind).CreateHttpClient();
        using var response = await http.PostAsync("/v1/messages", new StringContent(body, Encoding.UTF8, "application/json"));

        var error = await AssertAnthropicErrorAsync(response, HttpStatusCode.BadRequest, "invalid_request_error");
        Assert.True(((string?)error["error"]!["message"])!.Length < 300, name);
        Assert.Equal(before, fixture.Upstream.Requests);
        await AssertStillServesAsync(kind);
    }

    [Theory]
    [OnBothHosts]
    public async Task AHugeBody_Gets413RequestTooLarge(HostKind kind)
    {
        var before = fixture.Upstream.Requests;
        using var http = fixture.Host(kind).CreateHttpClient();
        var huge = """{"model":"claude-haiku-4-5","max_tokens":8,"messages":[{"role":"user","content":" """ + new string('x', 5 * 1024 * 1024) + "\"}]}";
        using var response = await http.PostAsync("/v1/messages", new StringContent(huge, Encoding.UTF8, "application/json"));

        await AssertAnthropicErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, "request_too_large");
        Assert.Equal(before, fixture.Upstream.Requests);
        await AssertStillServesAsync(kind);
    }

    /// <summary>Keys by a name, so that no key shows in a test's name.</summary>
    private static string? Key(string? name) => name switch
    {
        null => null,
        "alpha" => ProxyHost.ClientKey,
        "beta" => ProxyHost.OtherClientKey,
        "10 KB" => "sk-" + new string('k', 10 * 1024),
        _ => "sk-wrong",
    };

    public static TheoryData<string, string?, string?, HostKind> BadKeys()
    {
        var rows = new TheoryData<string, string?, string?, HostKind>();
        foreach (var kind in new[] { HostKind.Local, HostKind.Functions })
        {
            rows.Add("no key", null, null, kind);
            rows.Add("a wrong x-api-key", "wrong", null, kind);
            rows.Add("an x-api-key of 10 KB", "10 KB", null, kind);
            rows.Add("a 10 KB x-api-key beside the right bearer key", "10 KB", "alpha", kind);
            rows.Add("both headers, different keys", "alpha", "beta", kind);
        }

        return rows;
    }

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task ABadKey_Gets401AuthenticationError_WithoutEchoingAnyKey(string name, string? apiKeyName, string? bearerName, HostKind kind)
    {
        var (apiKey, bearer) = (Key(apiKeyName), Key(bearerName));
        var before = fixture.Upstream.Requests;
        using var http = ProxyHost.ClientFor(fixture.Host(kind).BaseUrl, bearer);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(Valid, Encoding.UTF8, "application/json") };
        if (apiKey is not null)
        {
            request.Headers.Add("x-api-key", apiKey);
        }

        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();

        await AssertAnthropicErrorAsync(response, HttpStatusCode.Unauthorized, "authentication_error");
        Assert.DoesNotContain("sk-", text, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-", string.Join('\n', response.Headers.Select(h => string.Join(',', h.Value))), StringComparison.Ordinal);
        Assert.Equal(before, fixture.Upstream.Requests);
        Assert.False(name.Length == 0);
    }

    [Theory]
    [OnBothHosts]
    public async Task TheSameKeyInBothHeaders_OrEitherAlone_IsAccepted(HostKind kind)
    {
        fixture.Upstream.Default = FakeUpstream.Scenario.Ok;
        foreach (var (apiKey, bearer) in new (string?, string?)[] { (ProxyHost.ClientKey, null), (null, ProxyHost.ClientKey), (ProxyHost.ClientKey, ProxyHost.ClientKey) })
        {
            using var http = ProxyHost.ClientFor(fixture.Host(kind).BaseUrl, bearer);
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(Valid, Encoding.UTF8, "application/json") };
            if (apiKey is not null)
            {
                request.Headers.Add("x-api-key", apiKey);
            }

            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }
}
