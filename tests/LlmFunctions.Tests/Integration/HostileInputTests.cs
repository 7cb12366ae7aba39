using System.Net;
using System.Text;
using System.Text.Json.Nodes;
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

    [Theory]
    [OnBothHosts("GET", "/v1/files", 404, "unsupported_endpoint")]
    [OnBothHosts("GET", "/v1/files/file-abc/content", 404, "unsupported_endpoint")]
    [OnBothHosts("DELETE", "/v1/files/file-abc", 404, "unsupported_endpoint")]
    [OnBothHosts("GET", "/v1/batches", 404, "unsupported_endpoint")]
    [OnBothHosts("POST", "/v1/realtime/client_secrets", 404, "unsupported_endpoint")]
    [OnBothHosts("GET", "/v1/responses/resp_123", 404, "unsupported_endpoint")]
    [OnBothHosts("GET", "/v1/chat/completions/chatcmpl-123", 404, "unsupported_endpoint")]
    [OnBothHosts("POST", "/v1/images/generations", 404, "unsupported_endpoint")]
    [OnBothHosts("GET", "/v1/embeddings", 405, "method_not_allowed")]
    [OnBothHosts("DELETE", "/v1/models/gpt-4.1", 405, "method_not_allowed")]
    public async Task PathsNothingMeters_AreAnsweredHere_NeverReachTheSharedUpstreamAccount_AndLeaveARecord(string method, string path, int status,
        string code, HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST")
        {
            request.Content = new StringContent("""{"model":"gpt-image-1","prompt":"a cat"}""", Encoding.UTF8, "application/json");
        }

        using var response = await http.SendAsync(request);

        Assert.Equal(status, (int)response.StatusCode);
        await ProxyTests.AssertErrorAsync(response, code);
        Assert.Equal(0, env.Upstream.Requests);
        var record = Assert.Single(await env.RecordsAsync(1));
        Assert.Equal(status, record.GetInt32("StatusCode"));
        Assert.Equal("client_error", record.GetString("Outcome"));
    }

    [Theory]
    [OnBothHosts]
    public async Task UnmeteredSharedPaths_OpensTheNamedPathsOnly(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(s => s["Proxy:UnmeteredSharedPaths"] = "files, batches/", kind: kind);
        using var http = env.Host.CreateHttpClient();

        using var files = await http.GetAsync("/v1/files/file-abc/content");
        using var batches = await http.GetAsync("/v1/batches");
        using var images = await http.PostAsync("/v1/images/generations", new StringContent("{}", Encoding.UTF8, "application/json"));
        using var lookalike = await http.GetAsync("/v1/filesystem");

        await ProxyTests.AssertErrorAsync(images, "unsupported_endpoint");
        await ProxyTests.AssertErrorAsync(lookalike, "unsupported_endpoint");
        Assert.Equal(["/v1/files/file-abc/content", "/v1/batches"], env.Upstream.SeenPaths.ToArray());
    }

    [Theory]
    [OnBothHosts]
    public async Task HeadersThatChooseAnAccountOrCredential_NeverReachTheUpstream_AndTheOperatorsAccountNeverComesBack(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = ChatBody.For("gpt-4.1") };
        foreach (var (name, value) in new[]
        {
            ("OpenAI-Organization", "org-attacker"), ("OpenAI-Project", "proj_attacker"), ("x-api-key", "sk-attacker"),
            ("api-key", "sk-attacker"), ("X-Custom-Routing", "somewhere"), ("X-MS-Client-Principal", "admin"),
            ("x-stainless-lang", "js"), ("OpenAI-Beta", "assistants=v2"), ("User-Agent", "OpenAI/JS 6.0.0"),
        })
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = env.Upstream.SeenHeaders.Single();
        foreach (var name in new[] { "OpenAI-Organization", "OpenAI-Project", "x-api-key", "api-key", "X-Custom-Routing", "X-MS-Client-Principal" })
        {
            Assert.False(seen.ContainsKey(name), name + " reached the upstream");
        }

        Assert.Equal("Bearer " + ProxyHost.UpstreamKey, seen.Authorization.ToString());
        Assert.Equal("js", seen["x-stainless-lang"].ToString());
        Assert.Equal("assistants=v2", seen["OpenAI-Beta"].ToString());
        Assert.Equal("OpenAI/JS 6.0.0", seen.UserAgent.ToString());

        Assert.False(response.Headers.Contains("openai-organization"));
        Assert.False(response.Headers.Contains("openai-project"));
        Assert.True(response.Headers.Contains("x-request-id"));
        Assert.Equal("59", response.Headers.GetValues("x-ratelimit-remaining-requests").Single());
    }

    [Theory]
    [OnBothHosts]
    public async Task AModelBudget_HoldsForEverySpellingOfItsModel_AndRecordsCountThemAsOne(HostKind kind)
    {
        // A reserved block budget far below one call's worst case: every gpt-4.1 call is refused before it costs anything.
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Budgets:hard:Scope"] = "model:OpenAI/GPT-4.1";
            s["Budgets:hard:LimitUsd"] = "0.000001";
            s["Budgets:hard:Action"] = "block";
            s["Budgets:hard:Reserve"] = "true";
        }, kind: kind);
        using var http = env.Host.CreateHttpClient();

        foreach (var spelling in new[] { "gpt-4.1", "gpt-4.1-2025-04-14", "openai/gpt-4.1", "GPT-4.1", "azure/gpt-4.1-20250414" })
        {
            using var refused = await http.PostAsync("/v1/chat/completions", ChatBody.For(spelling));
            Assert.True(refused.StatusCode == HttpStatusCode.TooManyRequests, $"{spelling}: {refused.StatusCode}");
            await ProxyTests.AssertErrorAsync(refused, "budget_exceeded");
        }

        using var other = await http.PostAsync("/v1/chat/completions", ChatBody.For("openai/gpt-4.1-mini"));
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.Equal(1, env.Upstream.Requests);
        Assert.Equal("openai/gpt-4.1-mini", JsonNode.Parse(env.Upstream.SeenBodies.Single())!["model"]!.GetValue<string>()); // sent as spelled

        var records = await env.RecordsAsync(6);
        Assert.Equal(5, records.Count(r => r.GetString("Model") == "gpt-4.1"));
        var billed = Assert.Single(records, r => r.GetInt32("StatusCode") == 200);
        Assert.Equal("gpt-4.1-mini", billed.GetString("Model"));
        Assert.Equal("openai/gpt-4.1-mini", billed.GetString("RequestedModel"));
        Assert.True(billed.GetBoolean("Priced"));
    }

    [Theory]
    [OnBothHosts("""{"Model":"gpt-4.1","model":"gpt-4.1-nano","messages":[]}""", "invalid_json")]
    [OnBothHosts("""{"model":"gpt-4.1","max_tokens":"100000","messages":[]}""", "invalid_json")]
    [OnBothHosts("""{"model":"gpt-4.1","n":2.5,"messages":[]}""", "invalid_json")]
    public async Task ABodyTheUpstreamCouldReadDifferently_Gets400_AndIsNotForwarded(string body, string code, HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        await ProxyTests.AssertErrorAsync(response, code);
        Assert.Equal(0, env.Upstream.Requests);
    }

    [Theory]
    [OnBothHosts]
    public async Task ABodyNestedOneHundredDeep_WithStreamOptions_IsForwarded_NotA500(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();
        var nested = new string('[', 100) + new string(']', 100);
        var body = $$"""{"model":"gpt-4.1","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"hi"}],"x":{{nested}}}""";

        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // a 500 before: the rewrite read 64 levels, the parse 128
        var sent = JsonNode.Parse(env.Upstream.SeenBodies.Single(), documentOptions: new System.Text.Json.JsonDocumentOptions { MaxDepth = 128 })!;
        Assert.True(sent["stream_options"]!["include_usage"]!.GetValue<bool>());
    }

    [Theory]
    [OnBothHosts]
    public async Task AnAnswerOfFortyMegabytes_IsRelayedWhole_AndBilledFromItsUsage(HostKind kind)
    {
        // Bodies over the old 32 MiB buffer were relayed unbilled: a large enough answer was free.
        // A 40 MB answer on two shared cores may pause longer than the suite's 5-s upstream timeout between reads (it did,
        // 504, once in a full run on Functions): this test is about size, not timeouts.
        await using var env = await TestEnvironment.StartAsync(s => s["Upstream:TimeoutSeconds"] = "60", kind: kind);
        env.Upstream.Default = new FakeUpstream.Scenario { PaddingChars = 40_000_000, PromptTokens = 1_000_000 };
        using var http = env.Host.CreateHttpClient();

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = ChatBody.For("gpt-4.1") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(body.Length > 40_000_000);
        Assert.NotNull(JsonNode.Parse(body));
        var record = await env.SingleRecordAsync();
        Assert.Equal("reported", record.GetString("UsageSource"));
        Assert.Equal(1_000_000, record.GetInt64("InputTokens"));
        Assert.True(record.GetInt64("CostNanoUsd") >= 2_000_000_000); // 1M input tokens of gpt-4.1: $2 at least
    }

    [Theory]
    [OnBothHosts]
    public async Task AClientThatLeavesBeforeTheAnswer_IsBilledAtLeastItsPrompt(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = ChatBody.For("gpt-4.1", content: new string('w', 4000)) };
        request.Headers.Add("x-fake-scenario", "delay-ms=5000");

        // The client leaves once the upstream has the call (not at a fixed time: a cold worker may not have sent it yet).
        using var leave = new CancellationTokenSource();
        var call = http.SendAsync(request, leave.Token);
        for (var waited = 0; env.Upstream.Requests == 0 && waited < 200; waited++)
        {
            await Task.Delay(50);
        }

        Assert.Equal(1, env.Upstream.Requests);
        await leave.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);

        var record = await env.SingleRecordAsync();
        Assert.Equal("client_cancelled", record.GetString("Outcome"));
        Assert.Equal("estimated", record.GetString("UsageSource"));
        Assert.True(record.GetInt64("InputTokens") > 100);
        Assert.True(record.GetInt64("CostNanoUsd") > 0);
    }

    [Theory]
    [OnBothHosts]
    public async Task TheSpendEndpoints_AreRateLimitedPerKey_SoOneKeyCannotLoopReportsAgainstTheFoldsPartition(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var alpha = env.Host.CreateHttpClient();
        using var beta = env.Host.CreateHttpClient(ProxyHost.OtherClientKey);

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 61; i++)
        {
            using var response = await alpha.GetAsync("/spend/me");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                Assert.InRange(response.Headers.RetryAfter!.Delta!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
                await ProxyTests.AssertErrorAsync(response, "rate_limit_exceeded");
            }
        }

        Assert.Equal(60, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
        using var other = await beta.GetAsync("/spend/me"); // another key has its own allowance
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    [Fact]
    public async Task AMethodOfTheClientsOwnInvention_IsRefused_AndRecordedAsOther_NeverAsALabelItChose()
    {
        // The method becomes the record's Method and the metrics' method label: a client must not mint label values.
        await using var env = await TestEnvironment.StartAsync();
        using var http = env.Host.CreateHttpClient();
        using var request = new HttpRequestMessage(new HttpMethod("XLABEL-" + new string('Z', 40)), "/v1/chat/completions") { Content = ChatBody.For("gpt-4.1") };

        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(0, env.Upstream.Requests);
        Assert.Equal("OTHER", (await env.SingleRecordAsync()).GetString("Method"));
        Assert.DoesNotContain("XLABEL", await MetricsTests.ScrapeAsync(env.Host), StringComparison.Ordinal);
    }
}
