using System.ClientModel;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;
using OpenAI.Chat;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// The scenarios users depend on, each run on the local host and on the real Functions worker (through the host
/// emulator), against one Azurite account and one fake upstream: the same answers, records and counters on both.
/// </summary>
public sealed class BothHostsTests(BothHostsFixture fixture) : IClassFixture<BothHostsFixture>
{
    private const string ChatBody = """{"model":"gpt-4.1","messages":[{"role":"user","content":"Say hello"}]}""";

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static HttpRequestMessage Chat(string body, string? scenario = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json(body) };
        if (scenario is not null)
        {
            request.Headers.Add("x-fake-scenario", scenario);
        }

        return request;
    }

    private static string CallId(HttpResponseMessage response) => response.Headers.GetValues("x-llm-call-id").Single();

    [Theory]
    [OnBothHosts]
    public async Task CacheWritesAndALongPrompt_AreRecordedAndBilledByTheirRules(HostKind kind)
    {
        // claude-sonnet-4.5, 250,000 prompt tokens (over 200k): 150,000 plain × $6 + 20,000 cached × $0.60
        // + 80,000 written × $7.50 + 12 output × $22.50 per 1M.
        fixture.Upstream.Default = new Scenario { PromptTokens = 250_000, CachedTokens = 20_000, CacheWriteTokens = 80_000, Words = 12 };
        var result = await fixture.OpenAI(kind).GetChatClient("claude-sonnet-4.5").CompleteChatAsync([new UserChatMessage("a long prompt")]);

        Assert.True(result.GetRawResponse().Headers.TryGetValue("x-llm-call-id", out var callId));
        var r = await fixture.RecordAsync(callId!);
        Assert.Equal(80_000, r.GetInt64("CacheWriteTokens"));
        Assert.Equal(20_000, r.GetInt64("CachedInputTokens"));
        Assert.Equal((150_000 * 6.00m + 20_000 * 0.60m + 80_000 * 7.50m + 12 * 22.50m) * 1000, r.GetInt64("CostNanoUsd")!.Value);
        Assert.True(r.GetBoolean("Priced"));
    }

    [Theory]
    [OnBothHosts]
    public async Task NonStreamingChat_WithTheSdk_AnswersAndWritesTheExactRecord(HostKind kind)
    {
        fixture.Upstream.Default = new Scenario { PromptTokens = 10_000, Words = 12, CachedTokens = 2_000 };
        var result = await fixture.OpenAI(kind).GetChatClient("gpt-4.1").CompleteChatAsync([new UserChatMessage("Say hello")]);

        Assert.StartsWith("The proxy meters", result.Value.Content[0].Text);
        var headers = result.GetRawResponse().Headers;
        Assert.True(headers.TryGetValue("x-llm-cost-usd", out var cost));
        Assert.Equal("0.017096", cost); // 8000 × 2 + 2000 × 0.5 + 12 × 8 USD/M
        Assert.True(headers.TryGetValue("x-llm-call-id", out var callId));
        var r = await fixture.RecordAsync(callId!);
        Assert.Equal("alpha", r.GetString("Client"));
        Assert.Equal("/v1/chat/completions", r.GetString("Endpoint"));
        Assert.Equal(200, r.GetInt32("StatusCode"));
        Assert.Equal("ok", r.GetString("Outcome"));
        Assert.Equal(17_096_000, r.GetInt64("CostNanoUsd"));
        Assert.False(r.GetBoolean("Streamed"));
    }

    [Theory]
    [OnBothHosts]
    public async Task StreamingChat_WithTheSdk_GetsEveryChunkAndTheUsage(HostKind kind)
    {
        // A prompt size of its own per host: the fixture's account holds both hosts' records.
        var prompt = kind == HostKind.Local ? 50 : 51;
        fixture.Upstream.Default = new Scenario { PromptTokens = prompt, Words = 20 };
        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        var updates = fixture.OpenAI(kind).GetChatClient("gpt-4.1").CompleteChatStreamingAsync([new UserChatMessage("Stream please")]);
        await foreach (var update in updates)
        {
            text.Append(string.Concat(update.ContentUpdate.Select(p => p.Text)));
            usage ??= update.Usage;
        }

        Assert.Equal(20, text.ToString().Split(' ').Length);
        Assert.Equal(20, usage?.OutputTokenCount); // the SDK asks for include_usage
        // The record is written after the stream ended: wait for it (reading at once raced the write).
        Azure.Data.Tables.TableEntity? r = null;
        for (var deadline = DateTime.UtcNow.AddSeconds(10); r is null && DateTime.UtcNow < deadline; await Task.Delay(50))
        {
            r = (await fixture.Azurite.AllCallsAsync()).SingleOrDefault(e => e.GetBoolean("Streamed") == true && e.GetInt64("InputTokens") == prompt);
        }

        Assert.NotNull(r);
        Assert.Equal("reported", r.GetString("UsageSource"));
        Assert.Equal(20, r.GetInt64("OutputTokens"));
        Assert.Equal((long)((prompt * 2.00m + 20 * 8.00m) * 1000), r.GetInt64("CostNanoUsd"));
    }

    [Theory]
    [OnBothHosts]
    public async Task StreamWithoutIncludeUsage_RelaysExactlyTheUpstreamEventsAndStillMeters(HostKind kind)
    {
        fixture.Upstream.Default = new Scenario { PromptTokens = 7, Words = 5 };
        using var http = fixture.Host(kind).CreateHttpClient();

        using var response = await http.SendAsync(Chat("""{"model":"gpt-4.1","stream":true,"messages":[{"role":"user","content":"hi"}]}"""));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("\"usage\"", body);
        Assert.EndsWith("data: [DONE]\n\n", body);
        var r = await fixture.RecordAsync(CallId(response));
        Assert.Equal(5, r.GetInt64("OutputTokens"));
        Assert.True(r.GetBoolean("Streamed"));

        // Issue 30 (6): the stream's cost, in an SSE comment just before [DONE] (SDKs skip comments; raw readers see it).
        var cost = Core.Pricing.PriceTable.Format(Core.Pricing.CostCalculator.ToUsd(r.GetInt64("CostNanoUsd")!.Value));
        Assert.EndsWith($": x-llm-cost-usd={cost} x-llm-input-tokens=7 x-llm-output-tokens=5 x-llm-usage-source=reported\n\ndata: [DONE]\n\n", body);
    }

    [Theory]
    [OnBothHosts]
    public async Task FirstStreamedEvent_ReachesTheClientLongBeforeTheLast(HostKind kind)
    {
        fixture.Upstream.Default = Scenario.Ok;
        using var http = fixture.Host(kind).CreateHttpClient();
        var clock = Stopwatch.StartNew();

        using var response = await http.SendAsync(
            Chat("""{"model":"gpt-4.1","stream":true,"messages":[]}""", "words=30;chunk-delay-ms=100"), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        TimeSpan? first = null;
        string? line;
        while ((line = await reader.ReadLineAsync()) is not null && line != "data: [DONE]")
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                first ??= clock.Elapsed;
            }
        }

        var last = clock.Elapsed;
        Assert.Equal("data: [DONE]", line);
        // A host that buffers delivers the first event with the last; a loaded machine may delay both, not their gap.
        Assert.True(last > TimeSpan.FromSeconds(3), $"the stream took {last}");
        Assert.True(first < last - TimeSpan.FromSeconds(2), $"first event after {first}, last after {last}: the host buffered the stream");
    }

    [Theory]
    [OnBothHosts(new object?[] { null })]
    [OnBothHosts("sk-wrong")]
    public async Task BadKey_Gets401InTheOpenAIShape(string? key, HostKind kind)
    {
        var forwarded = fixture.Upstream.Requests;
        using var http = fixture.Host(kind).CreateHttpClient(key);

        using var response = await http.SendAsync(Chat(ChatBody));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("invalid_api_key", error["code"]!.GetValue<string>());
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Equal(forwarded, fixture.Upstream.Requests);
    }

    [Theory]
    [OnBothHosts("POST", "{not json", 400, "invalid_json")]
    [OnBothHosts("POST", """{"messages":[]}""", 400, "missing_model")]
    [OnBothHosts("GET", null, 405, "method_not_allowed")]
    public async Task BadRequest_GetsItsStatusInTheOpenAIShape(string method, string? body, int status, string code, HostKind kind)
    {
        using var http = fixture.Host(kind).CreateHttpClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), "/v1/chat/completions") { Content = body is null ? null : Json(body) };

        using var response = await http.SendAsync(request);

        Assert.Equal(status, (int)response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal(code, error["code"]!.GetValue<string>());
        Assert.NotNull(error["message"]);
        Assert.NotNull(error["type"]);
    }

    [Theory]
    [OnBothHosts("status=429", 429, "rate_limited")]
    [OnBothHosts("status=500", 500, "upstream_error")]
    [OnBothHosts("delay-ms=4000", 504, "timeout")]
    public async Task UpstreamFailure_ReachesTheClientAndTheRecord(string scenario, int status, string outcome, HostKind kind)
    {
        fixture.Upstream.Default = Scenario.Ok;
        using var http = fixture.Host(kind).CreateHttpClient();

        using var response = await http.SendAsync(Chat(ChatBody, scenario));

        Assert.Equal(status, (int)response.StatusCode);
        Assert.NotNull(JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]);
        var r = await fixture.RecordAsync(CallId(response));
        Assert.Equal(outcome, r.GetString("Outcome"));
        Assert.Equal(status, r.GetInt32("StatusCode"));
    }

    [Theory]
    [OnBothHosts]
    public async Task Health_SaysStorageIsReachable(HostKind kind)
    {
        using var http = fixture.Host(kind).CreateHttpClient(key: null);

        using var response = await http.GetAsync("/health");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var health = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("healthy", health["status"]!.GetValue<string>());
        Assert.True(health["storage"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Metrics_OnBothHosts_AgreeWithEachOtherAndWithTheRecords()
    {
        fixture.Upstream.Default = Scenario.Ok;
        foreach (var kind in new[] { HostKind.Local, HostKind.Functions })
        {
            using var http = fixture.Host(kind).CreateHttpClient();
            for (var i = 0; i < 5; i++)
            {
                using var response = await http.SendAsync(Chat($$"""{"model":"gpt-4.1","stream":{{(i % 2 == 0 ? "true" : "false")}},"messages":[]}"""));
                await fixture.RecordAsync(CallId(response));
            }
        }

        var records = await fixture.Azurite.AllCallsAsync();
        var ok = records.Count(r => r.GetInt32("StatusCode") == 200);
        var local = await MetricsTests.ScrapeUntilAsync(fixture.Host(HostKind.Local), "api_requests_by_status{status=\"200\"}", ok);
        var functions = await MetricsTests.ScrapeUntilAsync(fixture.Host(HostKind.Functions), "api_requests_by_status{status=\"200\"}", ok);

        foreach (var scrape in new[] { local, functions })
        {
            Assert.Equal(records.Count(r => r.GetInt32("StatusCode") == 200), MetricsTests.Value(scrape, "api_requests_by_status{status=\"200\"}"));
            var cost = (double)Core.Pricing.CostCalculator.ToUsd(records.Sum(r => r.GetInt64("CostNanoUsd") ?? 0));
            Assert.Equal(cost, MetricsTests.Value(scrape, "api_cost_usd_total"), 9);
        }

        Assert.True(MetricsTests.Value(local, "api_requests_by_status{status=\"200\"}") >= 10);
        foreach (var series in new[] { "api_cost_usd_total", "api_tokens_total{token_type=\"output\",model=\"gpt-4.1\",client=\"alpha\"}" })
        {
            Assert.Equal(MetricsTests.Value(local, series), MetricsTests.Value(functions, series));
        }
    }

    [Fact]
    public async Task TheRecord_HasTheSameShapeOnBothHosts()
    {
        fixture.Upstream.Default = Scenario.Ok;
        var shapes = new List<string>();
        foreach (var kind in new[] { HostKind.Local, HostKind.Functions })
        {
            using var http = fixture.Host(kind).CreateHttpClient();
            using var response = await http.SendAsync(Chat("""{"model":"gpt-4.1","stream":true,"stream_options":{"include_usage":true},"messages":[]}"""));
            await response.Content.ReadAsStringAsync();
            var record = await fixture.RecordAsync(CallId(response));
            Assert.Equal(200, record.GetInt32("StatusCode"));
            Assert.Equal("ok", record.GetString("Outcome"));
            shapes.Add(string.Join('\n', record.Keys.Order(StringComparer.Ordinal).Select(k => $"{k}: {record[k]?.GetType().Name}")));
        }

        Assert.Contains("CostNanoUsd: Int64", shapes[0]);
        Assert.Equal(shapes[0], shapes[1]);
    }
}
