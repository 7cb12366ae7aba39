using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;
using OpenAI.Chat;
using Xunit.Abstractions;

namespace LlmFunctions.Tests.Integration;

/// <summary>The budget timer and a graceful stop, on the local host and on the real Functions worker.</summary>
public sealed class LifecycleTests(ITestOutputHelper output)
{
    [Theory]
    [OnBothHosts]
    public async Task BudgetRollup_FiresASignedWebhook_AndTheClientIsBlocked(HostKind kind)
    {
        await using var receiver = await WebhookReceiver.StartAsync("generic", "generic-secret");
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Budgets:hard:Scope"] = "client:alpha";
            s["Budgets:hard:LimitUsd"] = "0.05";
            s["Budgets:hard:Action"] = "block";
            s["Webhooks:ops:Url"] = receiver.Url;
            s["Webhooks:ops:Format"] = "generic";
            s["Webhooks:ops:Secret"] = "generic-secret";
        }, kind: kind);
        env.Upstream.Default = new Scenario { PromptTokens = 10_000 };
        var chat = env.OpenAI().GetChatClient("gpt-4.1");
        try
        {
            for (var i = 0; i < 3; i++)
            {
                await chat.CompleteChatAsync([new UserChatMessage("spend")]); // ≈ $0.020096 each
            }
        }
        catch (ClientResultException)
        {
            output.WriteLine(env.Host.Log);
            throw;
        }

        await env.RecordsAsync(3);
        await env.Host.RunBudgetRollupAsync();

        Assert.Empty(receiver.Rejected);
        Assert.Equal([50, 80, 100], receiver.Accepted.Select(b => b["threshold"]!.GetValue<int>()).Order());
        Assert.All(receiver.Accepted, m => Assert.Equal("hard", m["budget"]!.GetValue<string>()));
        var forwarded = env.Upstream.Requests;
        var ex = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("more")]));
        Assert.Equal(429, ex.Status);
        Assert.Equal("budget_exceeded", JsonNode.Parse(ex.GetRawResponse()!.Content.ToString())!["error"]!["code"]!.GetValue<string>());
        Assert.Equal(forwarded, env.Upstream.Requests);

        // A second run notifies nobody again.
        await env.Host.RunBudgetRollupAsync();
        Assert.Equal(3, receiver.Accepted.Count);
    }

    [Fact]
    public async Task FunctionsWorker_StoppedWithCallsInFlight_AnswersThemAndLosesNoRecord()
    {
        await using var azurite = await Azurite.SharedAccountAsync();
        await using var upstream = new FakeOpenAI { Default = new Scenario { Words = 40, ChunkDelay = TimeSpan.FromMilliseconds(25) } };
        var settings = ProxyHost.DefaultSettings(await upstream.StartAsync(), azurite.ConnectionString);
        await using var host = await FunctionsWorkerHost.StartAsync(settings);
        using var http = host.CreateHttpClient();

        var calls = Enumerable.Range(0, 40).Select(async i =>
        {
            try
            {
                using var response = await http.PostAsync("/v1/chat/completions",
                    new StringContent("""{"model":"gpt-4.1","stream":true,"messages":[]}""", Encoding.UTF8, "application/json"));
                var body = await response.Content.ReadAsStringAsync();
                return response.StatusCode == HttpStatusCode.OK && body.EndsWith("data: [DONE]\n\n", StringComparison.Ordinal);
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }).ToList();
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (upstream.Requests < 20 && DateTime.UtcNow < until)
        {
            await Task.Delay(10);
        }

        await host.Emulator.StopAsync();
        var completed = (await Task.WhenAll(calls)).Count(c => c);

        var records = await azurite.AllCallsAsync();
        output.WriteLine($"WorkerTerminate: {upstream.Requests} calls forwarded, {completed} completed, {records.Count} records, "
            + $"exit code {host.Emulator.WorkerExitCode}");
        Assert.Equal(0, host.Emulator.WorkerExitCode);
        // Every call that reached the upstream was in the worker when it was told to stop: each is answered in full (the
        // rest never reached the worker, which stopped taking calls). At least the 20 the stop waited for.
        Assert.True(completed == upstream.Requests && completed >= 20, $"{completed} of {upstream.Requests} forwarded calls completed:\n{host.Log}");
        Assert.Equal(upstream.Requests, records.Count);
        Assert.Equal(records.Count, records.Select(r => r.RowKey).Distinct().Count());
    }

    [Theory]
    [OnBothHosts]
    public async Task Restart_LeavesEveryCounterWhereItWas(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        await MetricsTests.DriveAsync(env.Host, 10);
        await env.RecordsAsync(10);
        await env.Host.RunBudgetRollupAsync(); // on Functions the timer also advances the metrics fold
        var before = await MetricsTests.ScrapeAsync(env.Host);

        await env.RestartHostAsync();
        var after = await MetricsTests.ScrapeAsync(env.Host);

        Assert.Equal(10, MetricsTests.Value(before, "api_requests_by_status{status=\"200\"}"));
        string[] counters =
        [
            "api_requests_by_status{status=\"200\"}", "api_cost_usd_total",
            "api_request_duration_seconds_count{method=\"POST\",endpoint=\"/v1/chat/completions\"}",
        ];
        foreach (var series in counters)
        {
            Assert.Equal(MetricsTests.Value(before, series), MetricsTests.Value(after, series));
        }
    }

    private static async Task<int> StatusAsync(ITestHost host)
    {
        using var http = host.CreateHttpClient();
        using var response = await http.PostAsync("/v1/chat/completions",
            new StringContent("""{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"));
        return (int)response.StatusCode;
    }

    /// <summary>A block budget of $0.05 for alpha, crossed by another instance (b) of the same app: 3 calls of 10K tokens.</summary>
    private static async Task<(TestEnvironment Env, ProxyHost Other)> CrossedElsewhereAsync(HostKind kind, string refreshSeconds)
    {
        var env = await TestEnvironment.StartAsync(s =>
        {
            s["Budgets:hard:Scope"] = "client:alpha";
            s["Budgets:hard:LimitUsd"] = "0.05";
            s["Budgets:hard:Action"] = "block";
            s["Budgets:RefreshSeconds"] = refreshSeconds;
        }, kind: kind);
        var other = await env.StartHostAsync();
        Assert.Equal(200, await StatusAsync(env.Host)); // this instance's first call starts its refresh cycle

        env.Upstream.Default = new Scenario { PromptTokens = 10_000 };
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(200, await StatusAsync(other));
        }

        env.Upstream.Default = Scenario.Ok; // this instance's own calls below cost next to nothing
        await env.RecordsAsync(4);

        // The other instance publishes its sums within a second; a scrape there publishes them now.
        await MetricsTests.ScrapeAsync(other);
        return (env, other);
    }

    [Theory]
    [OnBothHosts]
    public async Task AColdInstance_JudgesItsVeryFirstCallByTheRollup_NeverLetsItThroughUnjudged(HostKind kind)
    {
        var (env, other) = await CrossedElsewhereAsync(kind, refreshSeconds: "3600");
        await using var _ = env;
        await using var __ = other;
        await other.RunBudgetRollupAsync(); // the rollup row: alpha has spent more than its $0.05

        await env.RestartHostAsync(); // a new instance (a scale-out, a cold start), which has read no figure yet
        var forwarded = env.Upstream.Requests;

        Assert.Equal(429, await StatusAsync(env.Host));
        Assert.Equal(forwarded, env.Upstream.Requests);
    }

    [Theory]
    [OnBothHosts]
    public async Task OwnRollupRun_AppliesABlockHereAtOnce(HostKind kind)
    {
        var (env, other) = await CrossedElsewhereAsync(kind, refreshSeconds: "3600"); // no re-read would come in time
        await using var _ = env;
        await using var __ = other;

        await env.Host.RunBudgetRollupAsync();

        Assert.Equal(429, await StatusAsync(env.Host));
    }

    [Theory]
    [OnBothHosts]
    public async Task AnotherInstancesRollup_BlocksHereWithinTwoRefreshesAndASecond(HostKind kind)
    {
        // Budgets__RefreshSeconds 2 rather than the default 5. The bound, 5 s: the refresh after the rollup comes within
        // one period (2 s), a refresh already under way may have read before the rollup wrote (one more, 2 s), and a
        // second for the poll (250 ms) and a loaded machine.
        var (env, other) = await CrossedElsewhereAsync(kind, refreshSeconds: "2");
        await using var _ = env;
        await using var __ = other;

        await other.RunBudgetRollupAsync();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var status = 200;
        while (status == 200 && clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            await Task.Delay(250);
            status = await StatusAsync(env.Host);
        }

        output.WriteLine($"{kind}: blocked {clock.Elapsed.TotalSeconds:0.0} s after the other instance's rollup");
        Assert.Equal(429, status);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the block took {clock.Elapsed} to arrive (Budgets__RefreshSeconds 2)");
    }
}
