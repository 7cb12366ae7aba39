using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Anthropic.Models.Messages;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// Issue 29: Anthropic's Messages API through the proxy, with the official Anthropic .NET SDK (NuGet <c>Anthropic</c>)
/// against the fake upstream's Messages API, on both hosts: exact records and USD, cache writes by duration, thinking,
/// tool use, count_tokens, a cut stream, an error event after the 200, Anthropic-shaped errors, a budget block,
/// /spend and /metrics.
/// </summary>
public sealed class AnthropicTests(AnthropicFixture fixture) : IClassFixture<AnthropicFixture>
{
    /// <summary>1,000 uncached input, 4,000 cache reads, 2,000 5-minute and 1,000 1-hour writes, 12 words (+8 for a tool call).</summary>
    private static readonly Scenario Cached = new() { PromptTokens = 1_000, CachedTokens = 4_000, CacheWriteTokens = 2_000, CacheWrite1hTokens = 1_000, Words = 12 };

    private static MessageCreateParams Params(string model = "claude-sonnet-4-5", bool tools = true, string user = "end-user-42") => new()
    {
        Model = model,
        MaxTokens = 1024,
        System = new(
        [
            new TextBlockParam { Text = "You are a weather bot. " + new string('x', 200), CacheControl = new() { Ttl = Ttl.Ttl1h } },
        ]),
        Tools = tools
            ?
            [
                new ToolUnion(new Tool
                {
                    Name = "get_weather",
                    Description = "Get the current weather",
                    InputSchema = new InputSchema
                    {
                        Properties = new Dictionary<string, JsonElement> { ["location"] = JsonSerializer.SerializeToElement(new { type = "string" }) },
                        Required = ["location"],
                    },
                }),
            ]
            : null,
        ToolChoice = tools ? (ToolChoice)new ToolChoiceAny() : null,
        Metadata = new() { UserID = user },
        Messages = [new UserMessageParam { Content = "What is the weather in Paris?" }],
    };

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static HttpRequestMessage Messages(string body, string? scenario = null, string path = "/v1/messages")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(body) };
        if (scenario is not null)
        {
            request.Headers.Add("x-fake-scenario", scenario);
        }

        return request;
    }

    private static string Header(IEnumerable<KeyValuePair<string, IEnumerable<string>>> headers, string name) =>
        headers.Single(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value.Single();

    private static string CallId(HttpResponseMessage response) => response.Headers.GetValues("x-llm-call-id").Single();

    private static async Task<JsonNode> AnthropicErrorAsync(HttpResponseMessage response, HttpStatusCode status, string type)
    {
        Assert.Equal(status, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("error", (string?)body["type"]);
        Assert.Equal(type, (string?)body["error"]!["type"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)body["error"]!["message"]));
        return body;
    }

    [Theory]
    [OnBothHosts]
    public async Task NonStreaming_WithTheSdk_ToolUseAndPromptCaching_RecordsExactTokensAndUsd(HostKind kind)
    {
        fixture.Upstream.Default = Cached;
        var raw = await fixture.Claude(kind).WithRawResponse.Messages.Create(Params());
        var message = await raw.Deserialize();

        Assert.Equal("tool_use", message.StopReason?.Raw());
        Assert.Equal(1_000, message.Usage.InputTokens); // the client sees Anthropic's own usage, untouched
        Assert.Equal(20, message.Usage.OutputTokens);
        // 1,000 × $3 + 4,000 reads × $0.30 + 2,000 5m writes × $3.75 + 1,000 1h writes × $6 + 20 output × $15 = $0.018.
        Assert.Equal("0.018", Header(raw.Headers, "x-llm-cost-usd"));

        var r = await fixture.RecordAsync(Header(raw.Headers, "x-llm-call-id"));
        Assert.Equal("/v1/messages", r.GetString("Endpoint"));
        Assert.Equal("claude-sonnet-4-5", r.GetString("Model"));
        Assert.Equal(8_000, r.GetInt64("InputTokens")); // 1,000 + 4,000 + 3,000: the record's convention, cache included
        Assert.Equal(4_000, r.GetInt64("CachedInputTokens"));
        Assert.Equal(3_000, r.GetInt64("CacheWriteTokens"));
        Assert.Equal(1_000, r.GetInt64("CacheWrite1hTokens"));
        Assert.Equal(20, r.GetInt64("OutputTokens"));
        Assert.Equal(18_000_000, r.GetInt64("CostNanoUsd"));
        Assert.Equal("reported", r.GetString("UsageSource"));
        Assert.Equal("end-user-42", r.GetString("EndUser"));
        Assert.StartsWith("req_", r.GetString("UpstreamRequestId"));
        Assert.Equal("claude", r.GetString("Upstream"));
    }

    [Theory]
    [OnBothHosts]
    public async Task Streaming_WithTheSdk_TakesMessageDeltasCumulativeUsage_NeverSummed(HostKind kind)
    {
        fixture.Upstream.Default = Cached with { ReasoningTokens = 5 };
        var text = new StringBuilder();
        var user = "streaming-" + kind; // this call's record, whichever host wrote the other case's first
        await foreach (var e in fixture.Claude(kind).Messages.CreateStreaming(Params(user: user)))
        {
            if (e.TryPickContentBlockDelta(out var delta) && delta.Delta.TryPickText(out var t))
            {
                text.Append(t.Text);
            }
        }

        Assert.StartsWith("Claude answers through", text.ToString());
        var r = await fixture.RecordWhereAsync(c => c.GetString("EndUser") == user, "the streamed call");
        Assert.True(r.GetBoolean("Streamed"));
        Assert.Equal("ok", r.GetString("Outcome"));
        Assert.Equal(8_000, r.GetInt64("InputTokens")); // message_start's and message_delta's counts are the same tokens
        Assert.Equal(25, r.GetInt64("OutputTokens")); // 12 words + 8 tool + 5 thinking, inside output_tokens
        Assert.Equal(5, r.GetInt64("ReasoningTokens"));
        // $0.018 - 20 × $15 + 25 × $15 per 1M = $0.018075.
        Assert.Equal(18_075_000, r.GetInt64("CostNanoUsd"));
        Assert.Equal("reported", r.GetString("UsageSource"));
    }

    [Theory]
    [OnBothHosts]
    public async Task ARawStream_PassesEveryEventThrough_WithTheCostCommentJustBeforeMessageStop_AndTagsTheRecord(HostKind kind)
    {
        fixture.Upstream.Default = new Scenario { PromptTokens = 40, Words = 6 };
        using var http = fixture.Host(kind).CreateHttpClient();
        using var request = Messages("""{"model":"claude-haiku-4-5","max_tokens":100,"stream":true,"metadata":{"user_id":"u-7"},"messages":[]}""");
        request.Headers.Add("x-llm-tags", "team-a,claude-code");
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("event: message_start\n", events[0], StringComparison.Ordinal);
        Assert.Equal(6, events.Count(e => e.StartsWith("event: content_block_delta", StringComparison.Ordinal)));
        Assert.Contains(events, e => e.StartsWith("event: ping", StringComparison.Ordinal));
        // 40 × $1 + 6 × $5 per 1M = $0.00007.
        Assert.Equal(": x-llm-cost-usd=0.00007 x-llm-input-tokens=40 x-llm-output-tokens=6 x-llm-usage-source=reported", events[^2]);
        Assert.Equal("event: message_stop\ndata: {\"type\":\"message_stop\"}", events[^1]);
        var r = await fixture.RecordAsync(CallId(response));
        Assert.Equal(("u-7", "team-a,claude-code"), (r.GetString("EndUser"), r.GetString("Tags")));
        Assert.Equal(70_000, r.GetInt64("CostNanoUsd"));
    }

    [Theory]
    [OnBothHosts]
    public async Task CountTokens_WithTheSdk_IsForwardedAndRecordedFree(HostKind kind)
    {
        fixture.Upstream.Default = new Scenario { PromptTokens = 321 };
        var raw = await fixture.Claude(kind).WithRawResponse.Messages.CountTokens(new MessageCountTokensParams
        {
            Model = "claude-sonnet-4-5",
            Messages = [new UserMessageParam { Content = "How many tokens?" }],
        });
        var count = await raw.Deserialize();

        Assert.Equal(321, count.InputTokens);
        var r = await fixture.RecordAsync(Header(raw.Headers, "x-llm-call-id"));
        Assert.Equal("/v1/messages/count_tokens", r.GetString("Endpoint"));
        Assert.Equal(200, r.GetInt32("StatusCode"));
        Assert.Equal(0, r.GetInt64("CostNanoUsd"));
        Assert.Equal(0, r.GetInt64("InputTokens"));
    }

    [Theory]
    [OnBothHosts]
    public async Task AStreamCutBeforeMessageDelta_IsBilledWhatWasSeenPlusAnEstimate_AndMarked(HostKind kind)
    {
        fixture.Upstream.Default = Scenario.Ok;
        using var http = fixture.Host(kind).CreateHttpClient();
        var user = "cut-" + kind;
        using var request = Messages(
            $$"""{"model":"claude-haiku-4-5","max_tokens":100,"stream":true,"metadata":{"user_id":"{{user}}"},"messages":[{"role":"user","content":"hi"}]}""",
            "no-done;words=40");

        // The client sees headers and then a reset, or (when the reset overtakes unread data) only the reset: never a
        // stream that ends as if it had finished.
        var aborted = await Record.ExceptionAsync(async () =>
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            var body = await response.Content.ReadAsStringAsync();
            Assert.DoesNotContain("message_stop", body);
        });
        Assert.True(aborted is null or HttpRequestException or IOException, aborted?.ToString());

        var r = await fixture.RecordWhereAsync(c => c.GetString("EndUser") == user, "the cut stream");
        Assert.Equal("estimated", r.GetString("UsageSource"));
        Assert.Equal(502, r.GetInt32("StatusCode"));
        var input = r.GetInt64("InputTokens")!.Value;
        Assert.InRange(input, 10, 40); // message_start's input_tokens (the fake's body length / 4), not an estimate of 0
        Assert.InRange(r.GetInt64("OutputTokens")!.Value, 40, 60); // 40 words seen, estimated; message_start said 1
        Assert.Equal(input * 1_000 + r.GetInt64("OutputTokens")!.Value * 5_000, r.GetInt64("CostNanoUsd")); // Haiku 4.5: $1 / $5
    }

    [Theory]
    [OnBothHosts]
    public async Task AnErrorEventAfterThe200_IsRelayed_AndRecordedAsTheOverloadItNames(HostKind kind)
    {
        fixture.Upstream.Default = Scenario.Ok;
        using var http = fixture.Host(kind).CreateHttpClient();
        using var response = await http.SendAsync(Messages(
            """{"model":"claude-haiku-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}""", "error-event=3"));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"", body);
        var r = await fixture.RecordAsync(CallId(response));
        Assert.Equal(529, r.GetInt32("StatusCode"));
        Assert.Equal("upstream_error", r.GetString("Outcome"));
        Assert.Equal("estimated", r.GetString("UsageSource"));
    }

    [Theory]
    [OnBothHosts]
    public async Task ARateLimitAndAnOverload_AreRetriedByTheProxy_HonouringRetryAfter_InOneRecordCountingTheRetries(HostKind kind)
    {
        // 529 is Anthropic's "overloaded", its 503: retried here like a 503, within Upstream__MaxRetries. The SDK retries
        // nothing (MaxRetries = 0), so the three requests the upstream sees are the proxy's.
        fixture.Upstream.Default = Cached;
        var before = fixture.Upstream.Requests;
        fixture.Upstream.Enqueue(new Scenario { Status = 429, RetryAfterSeconds = 1 }, new Scenario { Status = 529 });
        var started = System.Diagnostics.Stopwatch.StartNew();

        var raw = await fixture.Claude(kind).WithRawResponse.Messages.Create(Params());

        Assert.Equal("tool_use", (await raw.Deserialize()).StopReason?.Raw());
        Assert.True(started.Elapsed >= TimeSpan.FromSeconds(1), "Retry-After: 1 was not honoured");
        Assert.Equal(before + 3, fixture.Upstream.Requests);
        var r = await fixture.RecordAsync(Header(raw.Headers, "x-llm-call-id"));
        Assert.Equal((200, "ok", 2), (r.GetInt32("StatusCode"), r.GetString("Outcome"), r.GetInt32("Retries")));
        Assert.Equal(18_000_000, r.GetInt64("CostNanoUsd")); // billed once, as the call that succeeded
    }

    [Theory]
    [OnBothHosts]
    public async Task UpstreamOverloaded_ReachesTheSdkAs529InAnthropicsShape(HostKind kind)
    {
        fixture.Upstream.Default = new Scenario { Status = 529 };
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => fixture.Claude(kind).Messages.Create(Params(tools: false)));
        Assert.Contains("529", ex.Message + ex.GetType().Name);

        using var http = fixture.Host(kind).CreateHttpClient();
        using var response = await http.SendAsync(Messages("""{"model":"claude-haiku-4-5","max_tokens":10,"messages":[]}"""));
        await AnthropicErrorAsync(response, (HttpStatusCode)529, "overloaded_error");
        var r = await fixture.RecordAsync(CallId(response));
        Assert.Equal(529, r.GetInt32("StatusCode"));
        Assert.Equal(0, r.GetInt64("CostNanoUsd"));
    }

    [Theory]
    [OnBothHosts]
    public async Task AReservedBudget_RefusesAMessagesCallByItsMaxTokens_InAnthropicsShape(HostKind kind)
    {
        fixture.Upstream.Default = Scenario.Ok;
        var before = fixture.Upstream.Requests;
        using var http = fixture.Host(kind).CreateHttpClient(ProxyHost.OtherClientKey);
        using var response = await http.SendAsync(Messages("""{"model":"claude-haiku-4-5","max_tokens":1000,"messages":[]}"""));

        var body = await AnthropicErrorAsync(response, HttpStatusCode.TooManyRequests, "rate_limit_error");
        Assert.Contains("betacap", (string?)body["error"]!["message"]);
        Assert.Equal(before, fixture.Upstream.Requests);
        var r = await fixture.RecordAsync(CallId(response));
        Assert.Equal("budget_blocked", r.GetString("Outcome"));
    }

    [Theory]
    [OnBothHosts]
    public async Task SpendAndMetrics_CountMessagesCallsUnderTheSameNamesAsOpenAICalls(HostKind kind)
    {
        // A model of its own per host: the counters are the shared storage's, and each row of the theory checks its own.
        var model = kind == HostKind.Local ? "claude-opus-4-6" : "claude-opus-4-5";
        fixture.Upstream.Default = new Scenario { PromptTokens = 100, Words = 10 };
        var message = await fixture.Claude(kind).Messages.Create(Params(model, tools: false));
        Assert.Equal(10, message.Usage.OutputTokens);

        // 100 × $5 + 10 × $25 per 1M = $0.00075.
        var scrape = await MetricsTests.ScrapeUntilAsync(fixture.Host(kind), $"api_cost_by_model_total{{model=\"{model}\"}}", 0.00075);
        Assert.Contains("api_requests_total{method=\"POST\",endpoint=\"/v1/messages\",status=\"200\"", scrape);
        Assert.Contains("api_request_duration_seconds_bucket{method=\"POST\",endpoint=\"/v1/messages\"", scrape);

        using var http = fixture.Host(kind).CreateHttpClient(AnthropicFixture.AdminKey);
        var report = await http.GetStringAsync("/spend?group_by=model");
        var row = JsonNode.Parse(report)!["data"]!.AsArray().SingleOrDefault(c => (string?)c!["model"] == model);
        Assert.True(row is not null, report[..Math.Min(report.Length, 3000)]);
        Assert.Equal(0.00075m, row["cost_usd"]!.GetValue<decimal>());
        Assert.Equal(100, row["input_tokens"]!.GetValue<long>());
        Assert.Equal(10, row["output_tokens"]!.GetValue<long>());
    }

    [Theory]
    [OnBothHosts]
    public async Task TheClientsKey_NeverReachesTheUpstream_WhichGetsTheOperatorsKeyAndTheClientsAnthropicHeaders(HostKind kind)
    {
        fixture.Upstream.Default = Scenario.Ok;
        while (fixture.Upstream.SeenHeaders.TryDequeue(out _))
        {
        }

        using var http = ProxyHost.ClientFor(fixture.Host(kind).BaseUrl, key: null);
        using var request = Messages("""{"model":"claude-haiku-4-5","max_tokens":10,"messages":[]}""", path: "/v1/messages?beta=true");
        request.Headers.Add("x-api-key", ProxyHost.ClientKey);
        request.Headers.Add("anthropic-beta", "prompt-caching-2024-07-31,context-1m-2025-08-07");
        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = fixture.Upstream.SeenHeaders.Last();
        Assert.Equal(AnthropicFixture.OperatorAnthropicKey, seen["x-api-key"].ToString());
        Assert.False(seen.ContainsKey("Authorization"));
        Assert.DoesNotContain(ProxyHost.ClientKey, string.Join('\n', seen.Select(h => h.Key + ": " + h.Value)));
        Assert.Equal("2023-06-01", seen["anthropic-version"].ToString()); // the default, as the client sent none
        Assert.Equal("prompt-caching-2024-07-31,context-1m-2025-08-07", seen["anthropic-beta"].ToString());
        Assert.Equal("/v1/messages", fixture.Upstream.SeenPaths.Last());
    }

    [Theory]
    [OnBothHosts]
    public async Task AMessagesCallForAModelNoAnthropicUpstreamServes_IsNotSentToTheOpenAIUpstream(HostKind kind)
    {
        var before = fixture.Upstream.Requests;
        using var http = fixture.Host(kind).CreateHttpClient();
        using var response = await http.SendAsync(Messages("""{"model":"gpt-4.1","max_tokens":10,"messages":[]}"""));

        var body = await AnthropicErrorAsync(response, HttpStatusCode.NotFound, "not_found_error");
        Assert.Contains("anthropic", (string?)body["error"]!["message"]);
        Assert.Equal(before, fixture.Upstream.Requests);

        // And a chat completion for a Claude model goes to the OpenAI-compatible default upstream, never the Anthropic one.
        using var chat = await http.PostAsync("/v1/chat/completions", Json("""{"model":"claude-sonnet-4-5","messages":[]}"""));
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.Equal("/v1/chat/completions", fixture.Upstream.SeenPaths.Last());
    }
}
