using System.Net;
using System.Text;
using Azure.Data.Tables;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Integration;

/// <summary>Several upstreams: routing by model, fallback before the first byte, and the breaker, on both hosts.</summary>
public sealed class UpstreamsTests
{
    [Theory]
    [OnBothHosts]
    public async Task AModelAnUpstreamClaims_GoesThereWithItsKey_AndOthersGoToTheDefault(HostKind kind)
    {
        await using var claude = new FakeOpenAI();
        var claudeUrl = await claude.StartAsync();
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Upstreams:anthropic:BaseUrl"] = claudeUrl;
            s["Upstreams:anthropic:ApiKey"] = "sk-anthropic-test";
            s["Upstreams:anthropic:Models"] = "claude-*";
        }, kind: kind);
        using var http = env.Host.CreateHttpClient();

        using (var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("claude-3-5-haiku")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using (var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o-mini")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(1, claude.Requests);
        Assert.Equal(1, env.Upstream.Requests);
        Assert.Equal("Bearer sk-anthropic-test", claude.SeenHeaders.Single()["Authorization"].ToString());
        Assert.Equal($"Bearer {ProxyHost.UpstreamKey}", env.Upstream.SeenHeaders.Single()["Authorization"].ToString());

        var records = await env.RecordsAsync(2);
        Assert.Equal("anthropic", Record(records, "claude-3-5-haiku").GetString("Upstream"));
        Assert.Equal("default", Record(records, "gpt-4o-mini").GetString("Upstream"));
        Assert.All(records, r => Assert.Equal(1, r.GetInt32("UpstreamsTried")));

        var scrape = await MetricsTests.ScrapeUntilAsync(env.Host, "api_requests_by_status{status=\"200\"}", 2);
        Assert.Equal(1, Sum(scrape, "api_requests_total{", "upstream=\"anthropic\""));
        Assert.Equal(1, Sum(scrape, "api_requests_total{", "upstream=\"default\""));
    }

    [Theory]
    [OnBothHosts]
    public async Task AConnectFailureA429AndATimeout_EachMoveTheCallToTheNextUpstream_BeforeItsFirstByte(HostKind kind)
    {
        await using var limited = new FakeOpenAI { Default = new Scenario { Status = 429, RetryAfterSeconds = 30 } };
        await using var slow = new FakeOpenAI { Default = new Scenario { HeaderDelay = TimeSpan.FromSeconds(5) } };
        var limitedUrl = await limited.StartAsync();
        var slowUrl = await slow.StartAsync();
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Upstream:TimeoutSeconds"] = "1";

            // Tried in this order for gpt-4o-mini: an exact name, then the longer prefix, then the shorter, then the default.
            s["Upstreams:down:BaseUrl"] = "http://127.0.0.1:9/v1"; // the discard port: nothing listens, never taken by a test
            s["Upstreams:down:ApiKey"] = "sk-down";
            s["Upstreams:down:Models"] = "gpt-4o-mini";
            s["Upstreams:limited:BaseUrl"] = limitedUrl;
            s["Upstreams:limited:ApiKey"] = "sk-limited";
            s["Upstreams:limited:Models"] = "gpt-4o-*";
            s["Upstreams:slow:BaseUrl"] = slowUrl;
            s["Upstreams:slow:ApiKey"] = "sk-slow";
            s["Upstreams:slow:Models"] = "gpt-*";
        }, kind: kind);
        using var http = env.Host.CreateHttpClient();

        foreach (var stream in new[] { false, true })
        {
            using var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o-mini", stream));
            var body = await response.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains(stream ? "[DONE]" : "\"choices\"", body, StringComparison.Ordinal);
        }

        Assert.Equal(2, limited.Requests);
        Assert.Equal(2, slow.Requests);
        Assert.Equal(2, env.Upstream.Requests);
        var records = await env.RecordsAsync(2);
        Assert.All(records, r =>
        {
            Assert.Equal(200, r.GetInt32("StatusCode"));
            Assert.Equal("default", r.GetString("Upstream"));
            Assert.Equal(4, r.GetInt32("UpstreamsTried"));
            Assert.Equal(0, r.GetInt32("Retries"));
        });
    }

    [Theory]
    [OnBothHosts]
    public async Task AStreamThatBreaksAfterItsFirstBytes_IsNeverMovedToAnotherUpstream(HostKind kind)
    {
        await using var flaky = new FakeOpenAI { Default = new Scenario { ResetAfterChunks = 2 } };
        var flakyUrl = await flaky.StartAsync();
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Upstreams:flaky:BaseUrl"] = flakyUrl;
            s["Upstreams:flaky:ApiKey"] = "sk-flaky";
            s["Upstreams:flaky:Models"] = "gpt-4o-mini";
        }, kind: kind);
        using var http = env.Host.CreateHttpClient();

        var text = "";
        try
        {
            using var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o-mini", stream: true));
            text = await response.Content.ReadAsStringAsync();
        }
        catch (HttpRequestException)
        {
            // The proxy may cut the connection: the client must not take a broken stream for a whole one.
        }

        Assert.DoesNotContain("[DONE]", text, StringComparison.Ordinal);
        Assert.Equal(1, flaky.Requests);
        Assert.Equal(0, env.Upstream.Requests);
        var record = await env.SingleRecordAsync();
        Assert.Equal("flaky", record.GetString("Upstream"));
        Assert.Equal(502, record.GetInt32("StatusCode"));
    }

    [Theory]
    [OnBothHosts]
    public async Task AnUpstreamThatKeepsFailing_IsLeftOutByItsBreaker_AndEveryCallStillSucceeds(HostKind kind)
    {
        await using var failing = new FakeOpenAI { Default = new Scenario { Status = 503 } };
        var failingUrl = await failing.StartAsync();
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Upstreams:failing:BaseUrl"] = failingUrl;
            s["Upstreams:failing:ApiKey"] = "sk-failing";
            s["Upstreams:failing:Models"] = "gpt-4o-mini";
        }, kind: kind);
        using var http = env.Host.CreateHttpClient();

        for (var i = 0; i < 12; i++)
        {
            using var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o-mini"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // The breaker opens after 5 calls in 30 s, half of them failed; the next calls go straight to the default.
        Assert.Equal(5, failing.Requests);
        Assert.Equal(12, env.Upstream.Requests);
        var records = await env.RecordsAsync(12);
        Assert.Equal(5, records.Count(r => r.GetInt32("UpstreamsTried") == 2));
        Assert.Equal(7, records.Count(r => r.GetInt32("UpstreamsTried") == 1));
    }

    /// <summary>
    /// Issue 27's defect: the first upstream answered 5xx, the last one was held out by its breaker; the 5xx was disposed
    /// before the breaker's refusal was known, and the disposed response relayed: 500 <c>proxy_error</c> instead of the
    /// upstream's own answer.
    /// </summary>
    [Theory]
    [OnBothHosts]
    public async Task WhenTheNextUpstreamIsHeldOutByItsBreaker_TheClientGetsTheFirstUpstreamsOwnAnswer(HostKind kind)
    {
        await using var first = new FakeOpenAI();
        var firstUrl = await first.StartAsync();
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Upstreams:first:BaseUrl"] = firstUrl;
            s["Upstreams:first:ApiKey"] = "sk-first";
            s["Upstreams:first:Models"] = "gpt-4o-mini";
            s["Upstream:MaxRetries"] = "0";
        }, kind: kind);
        using var http = env.Host.CreateHttpClient();

        // 10 answered by the first; then 5 that both fail: the default's breaker opens (5 of 5 failed), the first's
        // stays closed (5 of 15).
        for (var i = 0; i < 15; i++)
        {
            (first.Default, env.Upstream.Default) = i < 10 ? (Scenario.Ok, Scenario.Ok) : (new Scenario { Status = 503 }, new Scenario { Status = 503 });
            using var warmUp = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o-mini"));
        }

        Assert.Equal(5, env.Upstream.Requests);
        using var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o-mini"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode); // the first upstream's own 503
        Assert.DoesNotContain("proxy_error", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(5, env.Upstream.Requests); // held out: not asked
        Assert.Equal(16, first.Requests);
    }

    [Theory]
    [OnBothHosts]
    public async Task WhenEveryUpstreamOfAModelFails_TheCallMovesToItsFallbackModel_AndIsBilledAsThatModel(HostKind kind)
    {
        await using var big = new FakeOpenAI { Default = new Scenario { Status = 503 } };
        await using var small = new FakeOpenAI();
        var bigUrl = await big.StartAsync();
        var smallUrl = await small.StartAsync();
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Upstream:FallbackModels"] = "gpt-4o=gpt-4o-mini";
            s["Upstreams:big:BaseUrl"] = bigUrl;
            s["Upstreams:big:ApiKey"] = "sk-big";
            s["Upstreams:big:Models"] = "gpt-4o";
            s["Upstreams:small:BaseUrl"] = smallUrl;
            s["Upstreams:small:ApiKey"] = "sk-small";
            s["Upstreams:small:Models"] = "gpt-4o-mini";
        }, kind: kind);
        env.Upstream.Default = new Scenario { Status = 502 };
        using var http = env.Host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // gpt-4o on big (503), then on the default (502), then gpt-4o-mini on small.
        Assert.Equal(1, big.Requests);
        Assert.Equal(1, env.Upstream.Requests);
        Assert.Contains("\"model\":\"gpt-4o-mini\"", small.SeenBodies.Single(), StringComparison.Ordinal);
        var record = await env.SingleRecordAsync();
        Assert.Equal("gpt-4o", record.GetString("Model"));
        Assert.Equal("gpt-4o-mini", record.GetString("UsedModel"));
        Assert.Equal("small", record.GetString("Upstream"));
        Assert.Equal(3, record.GetInt32("UpstreamsTried"));
        Assert.Equal(0, record.GetInt32("Retries"));
    }

    [Fact]
    public async Task WithoutADefaultUpstream_AModelNoUpstreamServes_Gets404InTheOpenAIShape_AndARecord()
    {
        await using var other = new FakeOpenAI();
        var otherUrl = await other.StartAsync();
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s.Remove("Upstream:BaseUrl");
            s.Remove("Upstream:ApiKey");
            s["Upstreams:only:BaseUrl"] = otherUrl;
            s["Upstreams:only:ApiKey"] = "sk-only";
            s["Upstreams:only:Models"] = "gpt-4o-mini";
        });
        using var http = env.Host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4.1"));
        var error = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("model_not_found", error["code"]!.GetValue<string>());
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Contains("'gpt-4.1'", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(0, other.Requests);
        var record = await env.SingleRecordAsync();
        Assert.Equal(404, record.GetInt32("StatusCode"));
        Assert.Equal("", record.GetString("Upstream"));

        using var served = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4o-mini"));
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    private static TableEntity Record(List<TableEntity> records, string model) => records.Single(r => r.GetString("Model") == model);

    /// <summary>The sum of a metric's series whose labels contain <paramref name="label"/>.</summary>
    private static double Sum(string exposition, string prefix, string label) => exposition.Split('\n')
        .Where(l => l.StartsWith(prefix, StringComparison.Ordinal) && l.Contains(label, StringComparison.Ordinal))
        .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
}
