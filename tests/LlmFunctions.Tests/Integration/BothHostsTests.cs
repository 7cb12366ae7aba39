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
        Assert.True(first < last - TimeSpan.FromSeconds(1), $"first event after {first}, last after {last}: the host buffered the stream");
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
