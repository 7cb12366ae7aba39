using System.Diagnostics;
using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;
using OpenAI.Chat;
using OpenAI.Embeddings;

namespace LlmFunctions.Tests.Integration;

/// <summary>The proxy end to end: official OpenAI SDK → local host → fake upstream, records in real Azurite.</summary>
public sealed class ProxyTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>A streaming chat request the fake upstream answers with <paramref name="scenario"/>.</summary>
    private static HttpRequestMessage StreamRequest(string scenario)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json("""{"model":"gpt-4.1","stream":true,"messages":[]}""") };
        request.Headers.Add("x-fake-scenario", scenario);
        return request;
    }

    private const string ChatBody = """{"model":"gpt-4.1","messages":[{"role":"user","content":"Say hello"}]}""";

    [Theory]
    [OnBothHosts]
    public async Task NonStreamingChat_WithSdk_ReturnsCompletionAndWritesExactRecord(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        env.Upstream.Default = new Scenario { PromptTokens = 10_000, Words = 12, CachedTokens = 2_000, ReasoningTokens = 3 };
        var chat = env.OpenAI().GetChatClient("gpt-4.1");

        var result = await chat.CompleteChatAsync([new UserChatMessage("Say hello")]);

        Assert.StartsWith("The proxy meters", result.Value.Content[0].Text);
        Assert.Equal(10_000, result.Value.Usage.InputTokenCount);
        var headers = result.GetRawResponse().Headers;
        Assert.True(headers.TryGetValue("x-llm-call-id", out var callId));
        Assert.True(headers.TryGetValue("x-llm-cost-usd", out var cost));
        // 8000 × 2 + 2000 × 0.5 + 12 × 8 = 17096 USD/M.
        Assert.Equal("0.017096", cost);
        Assert.True(headers.TryGetValue("x-llm-input-tokens", out var input));
        Assert.Equal("10000", input);

        var r = await env.SingleRecordAsync();
        Assert.Equal(callId, r.GetString("CallId"));
        Assert.Equal(callId, r.RowKey);
        Assert.Equal("alpha", r.GetString("Client"));
        Assert.Equal("gpt-4.1", r.GetString("Model"));
        Assert.Equal("gpt-4.1-2025-04-14", r.GetString("ResponseModel"));
        Assert.Equal("/v1/chat/completions", r.GetString("Endpoint"));
        Assert.Equal(200, r.GetInt32("StatusCode"));
        Assert.Equal("ok", r.GetString("Outcome"));
        Assert.Equal(10_000, r.GetInt64("InputTokens"));
        Assert.Equal(2_000, r.GetInt64("CachedInputTokens"));
        Assert.Equal(12, r.GetInt64("OutputTokens"));
        Assert.Equal(3, r.GetInt64("ReasoningTokens"));
        Assert.Equal(17_096_000, r.GetInt64("CostNanoUsd"));
        Assert.Equal(0.017096, r.GetDouble("CostUsd")!.Value, 9);
        Assert.True(r.GetBoolean("Priced"));
        Assert.Equal("reported", r.GetString("UsageSource"));
        Assert.False(r.GetBoolean("Streamed"));
        Assert.Equal(0, r.GetInt32("Retries"));
        Assert.StartsWith("req_", r.GetString("UpstreamRequestId"));
        Assert.True(r.GetDouble("DurationMs") > 0);
        Assert.Equal(typeof(int), r["StatusCode"].GetType());
        Assert.Equal(typeof(long), r["CostNanoUsd"].GetType());
        Assert.Equal(typeof(long), r["InputTokens"].GetType());
        Assert.Equal(typeof(double), r["TimeToFirstByteMs"].GetType());
    }

    [Theory]
    [OnBothHosts]
    public async Task StreamingChat_WithSdk_RelaysEveryChunkAndRecordsReportedUsage(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        env.Upstream.Default = new Scenario { PromptTokens = 50, Words = 20 };
        var chat = env.OpenAI().GetChatClient("gpt-4.1");

        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Stream please")]))
        {
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            usage ??= update.Usage;
        }

        Assert.Equal(20, text.ToString().Split(' ').Length);
        Assert.Equal(20, usage?.OutputTokenCount); // the SDK asked for usage, so it gets the usage chunk
        var r = await env.SingleRecordAsync();
        Assert.True(r.GetBoolean("Streamed"));
        Assert.Equal("ok", r.GetString("Outcome"));
        Assert.Equal(50, r.GetInt64("InputTokens"));
        Assert.Equal(20, r.GetInt64("OutputTokens"));
        Assert.Equal("reported", r.GetString("UsageSource"));
        Assert.True(r.GetDouble("TimeToFirstByteMs") > 0);
        Assert.Equal((long)((50 * 2.00m + 20 * 8.00m) * 1000), r.GetInt64("CostNanoUsd"));
    }

    [Theory]
    [OnBothHosts]
    public async Task StreamWithoutIncludeUsage_IsMeteredButClientSeesExactlyTheUpstreamChunks(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        env.Upstream.Default = new Scenario { PromptTokens = 7, Words = 5 };
        using var http = env.Host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions",
            Json("""{"model":"gpt-4.1","stream":true,"messages":[{"role":"user","content":"hi"}]}"""));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("\"usage\"", body);
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(7, events.Length); // 5 content chunks, the cost comment, [DONE]
        Assert.StartsWith(": x-llm-cost-usd=", events[^2], StringComparison.Ordinal);
        Assert.Equal("data: [DONE]", events[^1]);
        var upstreamBody = JsonNode.Parse(env.Upstream.SeenBodies.Single())!;
        Assert.True(upstreamBody["stream_options"]!["include_usage"]!.GetValue<bool>());

        var r = await env.SingleRecordAsync();
        Assert.Equal(7, r.GetInt64("InputTokens"));
        Assert.Equal(5, r.GetInt64("OutputTokens"));
        Assert.Equal("reported", r.GetString("UsageSource"));
        Assert.True(r.GetBoolean("Streamed"));

        // Issue 30 (6): the stream's cost, in an SSE comment just before [DONE] (SDKs skip comments; raw readers see it).
        var cost = Core.Pricing.PriceTable.Format(Core.Pricing.CostCalculator.ToUsd(r.GetInt64("CostNanoUsd")!.Value));
        Assert.Equal($": x-llm-cost-usd={cost} x-llm-input-tokens=7 x-llm-output-tokens=5 x-llm-usage-source=reported", events[^2]);
    }

    [Theory]
    [OnBothHosts]
    public async Task StreamWithIncludeUsage_PassesTheUsageChunkThrough(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions",
            Json("""{"model":"gpt-4.1","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"""));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Contains("\"choices\":[],\"usage\":{\"prompt_tokens\"", body);
        Assert.Contains("\"usage\":null", body);
        await env.SingleRecordAsync();
    }

    [Theory]
    [OnBothHosts]
    public async Task ResponseWithoutUsage_IsEstimatedWithTheTokenizer(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        env.Upstream.Default = new Scenario { NoUsage = true, Words = 12 };
        var chat = env.OpenAI().GetChatClient("gpt-4.1");

        await chat.CompleteChatAsync([new UserChatMessage("Hello world")]);
        await foreach (var _ in chat.CompleteChatStreamingAsync([new UserChatMessage("Hello world")]))
        {
        }

        var records = await env.RecordsAsync(2);
        Assert.Equal(2, records.Count);
        foreach (var r in records)
        {
            Assert.Equal("estimated", r.GetString("UsageSource"));
            Assert.InRange(r.GetInt64("InputTokens")!.Value, 2, 10);
            Assert.InRange(r.GetInt64("OutputTokens")!.Value, 12, 20);
            Assert.True(r.GetInt64("CostNanoUsd") > 0);
        }
    }

    [Theory]
    [OnBothHosts]
    public async Task UnknownModel_IsForwardedAndRecordedUnpriced(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        var result = await env.OpenAI().GetChatClient("my-private-model").CompleteChatAsync([new UserChatMessage("hi")]);

        Assert.True(result.GetRawResponse().Headers.TryGetValue("x-llm-priced", out var priced));
        Assert.Equal("false", priced);
        var r = await env.SingleRecordAsync();
        Assert.False(r.GetBoolean("Priced"));
        Assert.Equal(0, r.GetInt64("CostNanoUsd"));
        Assert.True(r.GetInt64("InputTokens") > 0);
    }

    [Theory]
    [OnBothHosts]
    public async Task Embeddings_AreForwardedAndMetered(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        env.Upstream.Default = new Scenario { PromptTokens = 1000 };
        var result = await env.OpenAI().GetEmbeddingClient("text-embedding-3-small").GenerateEmbeddingAsync("hello");

        Assert.Equal(3, result.Value.ToFloats().Length);
        var r = await env.SingleRecordAsync();
        Assert.Equal("/v1/embeddings", r.GetString("Endpoint"));
        Assert.Equal(1000, r.GetInt64("InputTokens"));
        Assert.Equal(20_000, r.GetInt64("CostNanoUsd")); // 1000 × $0.02/M
    }

    [Theory]
    [OnBothHosts]
    public async Task ModelsList_IsForwardedWithQueryAndRecorded(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();
        using var response = await http.GetAsync("/v1/models?limit=1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("/v1/models?limit=1", env.Upstream.SeenPaths.Single());
        var r = await env.SingleRecordAsync();
        Assert.Equal("none", r.GetString("UsageSource"));
    }

    [Theory]
    [OnBothHosts]
    public async Task RateLimitedAndUnavailable_AreRetried_HonouringRetryAfter_AndTheRecordCountsTheRetries(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        env.Upstream.Enqueue(new Scenario { Status = 429 }, new Scenario { Status = 503 }, new Scenario { Status = 429, RetryAfterSeconds = 1 });
        var started = DateTime.UtcNow;

        var result = await env.OpenAI().GetChatClient("gpt-4.1").CompleteChatAsync([new UserChatMessage("hi")]);

        Assert.NotNull(result.Value.Content[0].Text);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(1), "Retry-After: 1 was not honoured");
        Assert.Equal(4, env.Upstream.Requests);
        var r = await env.SingleRecordAsync();
        Assert.Equal(3, r.GetInt32("Retries"));
        Assert.Equal("ok", r.GetString("Outcome"));
    }

    [Theory]
    [OnBothHosts]
    public async Task PersistentRateLimit_PassesThe429ThroughAfterMaxRetries(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        env.Upstream.Default = new Scenario { Status = 429 };

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => env.OpenAI().GetChatClient("gpt-4.1").CompleteChatAsync([new UserChatMessage("hi")]));

        Assert.Equal(429, ex.Status);
        Assert.Equal(4, env.Upstream.Requests);
        var r = await env.SingleRecordAsync();
        Assert.Equal("rate_limited", r.GetString("Outcome"));
        Assert.Equal(3, r.GetInt32("Retries"));
    }

    [Theory]
    [OnBothHosts(500, "upstream_error", 1)]
    [OnBothHosts(502, "upstream_error", 4)]
    [OnBothHosts(400, "client_error", 1)]
    public async Task UpstreamErrors_PassThroughWithTheirStatusAndBody(int status, string outcome, int attempts, HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        env.Upstream.Default = new Scenario { Status = status };
        using var http = env.Host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", Json(ChatBody));

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Contains("Fake upstream says", await response.Content.ReadAsStringAsync());
        Assert.Equal(attempts, env.Upstream.Requests);
        var r = await env.SingleRecordAsync();
        Assert.Equal(outcome, r.GetString("Outcome"));
        Assert.Equal(status, r.GetInt32("StatusCode"));
    }

    [Theory]
    [OnBothHosts]
    public async Task SlowHeaders_Give504AndATimeoutRecord(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(s => s["Upstream:TimeoutSeconds"] = "1", kind: kind);
        env.Upstream.Default = new Scenario { HeaderDelay = TimeSpan.FromSeconds(3) };
        using var http = env.Host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", Json(ChatBody));

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("upstream_timeout", error["code"]!.GetValue<string>());
        var r = await env.SingleRecordAsync();
        Assert.Equal("timeout", r.GetString("Outcome"));
        Assert.Equal(504, r.GetInt32("StatusCode"));
    }

    [Theory]
    [OnBothHosts]
    public async Task UnreachableUpstream_Gives502AfterRetries(HostKind kind)
    {
        // Nothing listens on the discard port, and no test takes it (a free port chosen now could be taken by then).
        await using var env = await TestEnvironment.StartAsync(s => s["Upstream:BaseUrl"] = "http://127.0.0.1:9/v1", kind: kind);
        using var http = env.Host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", Json(ChatBody));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("upstream_unreachable", error["code"]!.GetValue<string>());
        Assert.Equal("upstream_error", error["type"]!.GetValue<string>());
        Assert.Contains("Upstream__BaseUrl", error["message"]!.GetValue<string>(), StringComparison.Ordinal); // which upstream, for the operator
        var r = await env.SingleRecordAsync();
        Assert.Equal("upstream_error", r.GetString("Outcome"));
        Assert.Equal(3, r.GetInt32("Retries"));
    }

    [Theory]
    [OnBothHosts("reset=3", "estimated")]
    [OnBothHosts("no-done", "reported")]
    public async Task BrokenStream_IsAbortedNeverEndedAsComplete(string scenario, string usageSource, HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();
        using var request = StreamRequest(scenario);

        // The client sees headers and then a reset, or (when the reset overtakes unread data) only the reset:
        // never a stream that ends as if it had finished.
        // (An Assert inside Assert.ThrowsAnyAsync<Exception> passed on any status: its failure is an exception too.)
        HttpStatusCode? status = null;
        var aborted = await Record.ExceptionAsync(async () =>
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            status = response.StatusCode;
            await response.Content.ReadAsStringAsync();
        });
        Assert.True(aborted is HttpRequestException or IOException, $"the stream was not aborted: {aborted?.GetType().Name ?? "it ended whole"}");
        Assert.True(status is null or HttpStatusCode.OK, $"status {status}");

        var r = await env.SingleRecordAsync();
        Assert.Equal("upstream_error", r.GetString("Outcome"));
        Assert.Equal(502, r.GetInt32("StatusCode"));
        Assert.Equal(usageSource, r.GetString("UsageSource"));
    }

    [Theory]
    [OnBothHosts]
    public async Task StalledStream_HitsTheIdleTimeoutAndIsAborted(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(s => s["Upstream:TimeoutSeconds"] = "1", kind: kind);
        using var http = env.Host.CreateHttpClient();
        using var request = StreamRequest("stall=2");

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsStringAsync());

        var r = await env.SingleRecordAsync();
        Assert.Equal("timeout", r.GetString("Outcome"));
        Assert.Equal(2, r.GetInt64("OutputTokens"));
    }

    [Theory]
    [OnBothHosts]
    public async Task ClientDisconnectMidStream_CancelsTheUpstreamPromptly_AndRecordsTheTokensSeen(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        env.Upstream.Default = new Scenario { Words = 1_000, ChunkDelay = TimeSpan.FromMilliseconds(20) }; // 20 s unless cancelled
        var cancelled = new TaskCompletionSource();
        env.Upstream.StreamCancelled += () => cancelled.TrySetResult();
        using var http = env.Host.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = Json("""{"model":"gpt-4.1","stream":true,"messages":[{"role":"user","content":"long"}]}""")
        };
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var stream = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[256];
        var read = 0;
        while (read < 600)
        {
            read += await stream.ReadAsync(buffer);
        }

        var left = DateTime.UtcNow;
        response.Dispose();
        http.Dispose();
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5));

        // Promptly: the abort reaches the upstream within the next chunk or two (20 ms apart); the bound leaves a loaded
        // machine (the abort crosses the test process's busy thread pool) 3 s, and on Functions, one more process, 5 s.
        // An upstream call that is not cancelled runs its 20 s and fails the wait above.
        var bound = TimeSpan.FromSeconds(kind == HostKind.Functions ? 5 : 3);
        Assert.True(DateTime.UtcNow - left < bound, $"upstream call not cancelled within {bound.TotalSeconds} s");

        var r = await env.SingleRecordAsync();
        Assert.Equal("client_cancelled", r.GetString("Outcome"));
        Assert.Equal(499, r.GetInt32("StatusCode"));
        Assert.Equal("estimated", r.GetString("UsageSource"));
        Assert.InRange(r.GetInt64("OutputTokens")!.Value, 1, 999);
    }

    [Theory]
    [OnBothHosts]
    public async Task MalformedUpstreamJson_IsPassedThroughAndEstimated(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        env.Upstream.Default = new Scenario { MalformedJson = true };
        using var http = env.Host.CreateHttpClient();
        using var response = await http.PostAsync("/v1/chat/completions", Json(ChatBody));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("{\"id\": \"chatcmpl-broken\"", await response.Content.ReadAsStringAsync());
        var r = await env.SingleRecordAsync();
        Assert.Equal("estimated", r.GetString("UsageSource"));
    }

    [Theory]
    [OnBothHosts]
    public async Task MalformedSse_IsRelayedAsIsAndEstimated(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();
        using var request = StreamRequest("malformed-sse");

        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var r = await env.SingleRecordAsync();
        Assert.Equal("ok", r.GetString("Outcome"));
        Assert.Equal("estimated", r.GetString("UsageSource"));
        var cost = Core.Pricing.PriceTable.Format(Core.Pricing.CostCalculator.ToUsd(r.GetInt64("CostNanoUsd")!.Value));
        Assert.Equal($"data: {{not json at all\n\n: x-llm-cost-usd={cost} x-llm-input-tokens={r.GetInt64("InputTokens")} "
            + $"x-llm-output-tokens={r.GetInt64("OutputTokens")} x-llm-usage-source=estimated\n\ndata: [DONE]\n\n", body);
    }

    [Theory]
    [OnBothHosts]
    public async Task VeryLargeResponse_IsRelayedWhole(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        env.Upstream.Default = new Scenario { PaddingChars = 5_000_000 };
        using var http = env.Host.CreateHttpClient();
        using var response = await http.PostAsync("/v1/chat/completions", Json(ChatBody));
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.True(body.Length > 5_000_000);
        Assert.NotNull(JsonNode.Parse(body));
        var r = await env.SingleRecordAsync();
        Assert.Equal("reported", r.GetString("UsageSource"));
    }

    [Theory]
    [OnBothHosts]
    public async Task Forwarding_ReplacesAuthAndDropsCredentialAndRoutingHeaders(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json(ChatBody) };
        request.Headers.Add("Cookie", "session=abc");
        request.Headers.Add("x-functions-key", "fkey");
        request.Headers.Add("X-Forwarded-Host", "evil.example");
        request.Headers.Add("X-Forwarded-For", "1.2.3.4");
        request.Headers.Add("OpenAI-Beta", "assistants=v2");

        using var response = await http.SendAsync(request);

        var seen = env.Upstream.SeenHeaders.Single();
        Assert.Equal("Bearer " + ProxyHost.UpstreamKey, seen.Authorization.ToString());
        Assert.False(seen.ContainsKey("Cookie"));
        Assert.False(seen.ContainsKey("x-functions-key"));
        Assert.False(seen.ContainsKey("X-Forwarded-Host"));
        Assert.False(seen.ContainsKey("X-Forwarded-For"));
        Assert.Equal("assistants=v2", seen["OpenAI-Beta"].ToString());
        Assert.StartsWith("127.0.0.1:", seen.Host.ToString());
    }

    [Theory]
    [OnBothHosts(null, "invalid_api_key")]
    [OnBothHosts("sk-wrong", "invalid_api_key")]
    public async Task BadKey_Gives401InOpenAIShapeAndNoRecord(string? key, string code, HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient(key);
        using var response = await http.PostAsync("/v1/chat/completions", Json(ChatBody));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        await AssertErrorAsync(response, code);
        Assert.Equal(0, env.Upstream.Requests);
        await TestEnvironment.WaitUntilIdleAsync(env.Host, DateTime.UtcNow.AddSeconds(10)); // a record would be pending until written
        Assert.Empty(await env.Azurite.AllCallsAsync());
    }

    [Theory]
    [OnBothHosts]
    public async Task SdkWithWrongKey_SeesAnAuthenticationError(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        var ex = await Assert.ThrowsAsync<ClientResultException>(
            () => env.OpenAI("sk-nope").GetChatClient("gpt-4.1").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(401, ex.Status);
        Assert.Contains("Incorrect or missing API key", ex.Message);
    }

    [Theory]
    [OnBothHosts("POST", "/v1/chat/completions", "{not json", "application/json", 400, "invalid_json")]
    [OnBothHosts("POST", "/v1/chat/completions", """{"messages":[]}""", "application/json", 400, "missing_model")]
    [OnBothHosts("POST", "/v1/chat/completions", """{"model":42}""", "application/json", 400, "missing_model")]
    [OnBothHosts("POST", "/v1/chat/completions", "", "application/json", 400, "invalid_json")]
    [OnBothHosts("POST", "/v1/chat/completions", "model=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type")]
    [OnBothHosts("GET", "/v1/chat/completions", null, null, 405, "method_not_allowed")]
    [OnBothHosts("GET", "/v1/a%2F..%2F..%2Fadmin", null, null, 404, "not_found")]

    // The client resolves the dots to /admin: the local host's unknown-route 404; on Functions the host's own 404.
    [InlineData("POST", "/v1/chat/../../admin", "{}", "application/json", 404, "not_found", HostKind.Local)]
    public async Task BadRequests_GetOpenAIShapedErrorsAndAClientErrorRecord(string method, string path, string? body, string? contentType, int status,
        string code, HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, contentType!);
        }

        using var response = await http.SendAsync(request);

        Assert.Equal(status, (int)response.StatusCode);
        await AssertErrorAsync(response, code);
        Assert.Equal(0, env.Upstream.Requests);
        var records = await env.RecordsAsync(1);
        if (status == 404 && path.Contains("..") && !path.Contains('%'))
        {
            // Kestrel resolves dot segments first: /v1/chat/../../admin is /admin, not a /v1 route at all.
            Assert.Empty(records);
        }
        else
        {
            Assert.Equal("client_error", Assert.Single(records).GetString("Outcome"));
        }
    }

    /// <summary>Issue 30 (5): a base URL without /v1, the site root and a browser's favicon get the hint on both hosts
    /// (the Functions host answered an empty 404, which the SDK shows as "404 status code (no body)").</summary>
    [Theory]
    [OnBothHosts("GET", "/nope")]
    [OnBothHosts("GET", "/")]
    [OnBothHosts("GET", "/favicon.ico")]
    [OnBothHosts("POST", "/chat/completions")]
    [OnBothHosts("GET", "/healthz")]
    public async Task UnknownRoutes_Get404InOpenAIShape_PointingAtV1(string method, string path, HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST")
        {
            request.Content = Infrastructure.ChatBody.For("gpt-4.1");
        }

        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("lives under /v1", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await AssertErrorAsync(response, "not_found");
        Assert.Equal(0, env.Upstream.Requests);
    }

    [Theory]
    [OnBothHosts]
    public async Task BodyOverTheLimit_Gives413_DeclaredOrChunked_AndReachesNoUpstream(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(s => s["Proxy:MaxRequestBodyBytes"] = "2048", kind: kind);
        using var http = env.Host.CreateHttpClient();

        using var declared = await http.PostAsync("/v1/chat/completions", Json("{\"model\":\"gpt-4.1\",\"x\":\"" + new string('a', 4096) + "\"}"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);
        await AssertErrorAsync(declared, "request_too_large");

        // Chunked (no Content-Length): the proxy stops at the limit.
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes("{\"model\":\"gpt-4.1\",\"x\":\"" + new string('a', 8192) + "\"}")));
        chunked.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        using var streamed = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, streamed.StatusCode);
        Assert.Equal(0, env.Upstream.Requests);
    }

    [Theory]
    [OnBothHosts]
    public async Task ClientLeavingBeforeItsBodyArrived_IsRecordedAsCancelledNotAsOurError(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        var uri = new Uri(env.Host.BaseUrl);
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(uri.Host, uri.Port);
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                $"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ProxyHost.ClientKey}\r\n"
                + $"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"model\":"));

            // Leave once the proxy has the call: after a fixed 200 ms a loaded Functions host had not yet handed it to
            // the worker, which then saw no call and wrote no record.
            await TestEnvironment.WaitForCallsInFlightAsync(env.Host, 1, TimeSpan.FromSeconds(15));
        }

        var r = await env.SingleRecordAsync();
        Assert.Equal("client_cancelled", r.GetString("Outcome"));
        Assert.Equal(499, r.GetInt32("StatusCode"));
        Assert.Equal(0, env.Upstream.Requests);
    }

    [Theory]
    [OnBothHosts]
    public async Task Health_SaysStorageIsReachable(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient(key: null);
        using var response = await http.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.True(body["storage"]!.GetValue<bool>());
    }

    [Theory]
    [OnBothHosts]
    public async Task TwoHundredConcurrentMixedCalls_LeaveExactlyTwoHundredRecords(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        var chat = env.OpenAI().GetChatClient("gpt-4.1");
        using var http = env.Host.CreateHttpClient(ProxyHost.OtherClientKey);
        var calls = Enumerable.Range(0, 200).Select(async i =>
        {
            switch (i % 4)
            {
                case 0:
                    await chat.CompleteChatAsync([new UserChatMessage("hi " + i)]);
                    break;
                case 1:
                    await foreach (var _ in chat.CompleteChatStreamingAsync([new UserChatMessage("hi " + i)]))
                    {
                    }

                    break;
                case 2:
                    using (var r = await http.PostAsync("/v1/chat/completions",
                        Json("""{"model":"deepseek-v3.2","stream":true,"messages":[{"role":"user","content":"x"}]}""")))
                    {
                        await r.Content.ReadAsStringAsync();
                    }

                    break;
                default:
                    using (var r = await http.PostAsync("/v1/embeddings", Json("""{"model":"text-embedding-3-small","input":"x"}""")))
                    {
                        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
                    }

                    break;
            }
        });
        await Task.WhenAll(calls);

        var records = await env.RecordsAsync(200);
        Assert.Equal(200, records.Count);
        Assert.Equal(200, records.Select(r => r.RowKey).Distinct().Count());
        Assert.All(records, r => Assert.Equal("ok", r.GetString("Outcome")));
        Assert.Equal(100, records.Count(r => r.GetString("Client") == "beta"));
        if (kind == HostKind.Local)
        {
            var writer = env.Local.Get<LlmFunctions.Core.Records.RecordWriter>();
            Assert.True(writer.Transactions < 200, $"group commit used {writer.Transactions} transactions for 200 records");
        }
    }

    [Fact]
    public async Task WithoutAwaitingRecordWrites_EveryRecordIsStillWrittenAndDrainedOnStop()
    {
        await using var env = await TestEnvironment.StartAsync(s => s["Storage:AwaitRecordWrite"] = "false");
        var chat = env.OpenAI().GetChatClient("gpt-4.1");
        await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => chat.CompleteChatAsync([new UserChatMessage("hi")])));

        await env.Local.App.StopAsync(); // graceful stop drains the queue
        var records = await env.RecordsAsync(50);
        Assert.Equal(50, records.Count);
        Assert.Equal(50, records.Select(r => r.RowKey).Distinct().Count());
    }

    [Fact]
    public async Task QueuedRecords_OfOneClientCallingInSequence_ShareTransactions_AndAStopWritesTheWaitingBatch()
    {
        // A long delay, so that the sequence below fits in a few batches even on a slow machine, and the stop comes
        // while a batch is still waiting to fill.
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Storage:AwaitRecordWrite"] = "false";
            s["Storage:QueuedCommitDelayMs"] = "1000";
        });
        var chat = env.OpenAI().GetChatClient("gpt-4.1");
        var sequence = Stopwatch.StartNew();
        for (var i = 0; i < 20; i++)
        {
            await chat.CompleteChatAsync([new UserChatMessage("hi")]);

            // Longer than a commit takes here, so without the delay each record would have a transaction to itself.
            await Task.Delay(20);
        }

        var elapsed = sequence.Elapsed;
        var writer = env.Local.Get<LlmFunctions.Core.Records.RecordWriter>();
        await env.Local.App.StopAsync();
        var records = await env.RecordsAsync(20);
        Assert.Equal(20, records.Count);

        // A batch waits up to the commit delay for more: at most one commit per started second of the sequence, plus
        // the stop's. The bound follows the machine's pace; with QueuedCommitDelayMs=0 this measured 18 transactions.
        var bound = (int)Math.Ceiling(elapsed.TotalSeconds) + 1;
        output.WriteLine($"20 sequential calls in {elapsed.TotalMilliseconds:0} ms: {writer.Transactions} transactions (at most {bound})");
        Assert.True(writer.Transactions <= Math.Min(bound, 10), $"20 sequential calls in {elapsed.TotalMilliseconds:0} ms took {writer.Transactions} transactions");
    }

    [Theory]
    [InlineData("Storage:QueuedCommitDelayMs")] // applies to batches nobody waits on
    [InlineData("Storage:CommitIntervalMs")] // applies only while other calls are in progress: nothing could join
    public async Task ALoneSequentialCaller_IsNotHeldByABatchingDelay(string setting)
    {
        await using var env = await TestEnvironment.StartAsync(s => s[setting] = "1000");
        var chat = env.OpenAI().GetChatClient("gpt-4.1");
        var started = Stopwatch.StartNew();
        for (var i = 0; i < 5; i++)
        {
            await chat.CompleteChatAsync([new UserChatMessage("hi")]);
        }

        // Each call waits for its own record, committed at once; were its batch held for the second, each call after
        // the first would wait up to a second for the one before (4 s or more in all).
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(3.5), $"5 sequential calls took {started.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal(5, (await env.RecordsAsync(5)).Count);
    }

    [Fact]
    public async Task AwaitedRecords_OfOverlappingCalls_ShareTransactions()
    {
        await using var env = await TestEnvironment.StartAsync(s => s["Storage:CommitIntervalMs"] = "300");
        env.Upstream.Default = new Scenario { HeaderDelay = TimeSpan.FromMilliseconds(100) }; // calls overlap, records come apart
        var writer = env.Local.Get<LlmFunctions.Core.Records.RecordWriter>();
        var started = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, 8), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (client, ct) =>
        {
            // Staggered, so the clients' records come 12 ms apart rather than together.
            await Task.Delay(client * 12, ct);
            var chat = env.OpenAI().GetChatClient("gpt-4.1");
            for (var i = 0; i < 10; i++)
            {
                await chat.CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: ct);
            }
        });
        var elapsed = started.Elapsed;

        Assert.Equal(80, (await env.RecordsAsync(80)).Count);

        // While other calls are in progress, a commit waits out the interval unless every call in progress is already in
        // its batch. Measured: 11 transactions (three runs, 2–3 s) with the 300 ms interval; 20 and 37 with
        // CommitIntervalMs=0.
        Assert.True(writer.Transactions <= 15, $"80 calls in {elapsed.TotalMilliseconds:0} ms took {writer.Transactions} transactions");
    }

    internal static async Task AssertErrorAsync(HttpResponseMessage response, string code)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.False(string.IsNullOrWhiteSpace(error["message"]!.GetValue<string>()));
        Assert.False(string.IsNullOrWhiteSpace(error["type"]!.GetValue<string>()));
        Assert.Equal(code, error["code"]!.GetValue<string>());
    }
}
