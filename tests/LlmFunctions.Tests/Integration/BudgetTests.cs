using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using LlmFunctions.Core.Budgets;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;
using OpenAI.Chat;

namespace LlmFunctions.Tests.Integration;

/// <summary>Budgets end to end: rollup rows, exactly-once signed webhooks across hosts, and enforcement with the SDK.</summary>
public sealed class BudgetTests
{
    private static async Task SpendAsync(TestEnvironment env, int calls)
    {
        // Each call: 10K in, 12 out on gpt-4.1 ≈ $0.020096.
        env.Upstream.Default = new Scenario { PromptTokens = 10_000 };
        var chat = env.OpenAI().GetChatClient("gpt-4.1");
        for (var i = 0; i < calls; i++)
        {
            await chat.CompleteChatAsync([new UserChatMessage("spend")]);
        }

        await env.RecordsAsync(calls);
    }

    /// <summary>The timer runs, then the proxy re-reads the rollup (instead of waiting for its 30 s refresh).</summary>
    private static async Task RollUpAndRefreshAsync(TestEnvironment env)
    {
        await env.Local.Get<BudgetRollup>().RunAsync(CancellationToken.None);
        await env.Local.Get<BudgetEnforcer>().RefreshAsync();
    }

    /// <summary>Issue 30 (2): $1.80 spent, then a restart adds a reserved $0.01 budget: it refused nothing until a rollup ran.</summary>
    [Theory]
    [OnBothHosts]
    public async Task AReservedBudgetAddedByARestart_StartsFromTheDaysSpend_AndAgreesWithSpendMe(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        await SpendAsync(env, 2);

        await env.RestartHostAsync(s =>
        {
            s["Budgets:hard:LimitUsd"] = "0.05";
            s["Budgets:hard:Action"] = "block";
            s["Budgets:hard:Reserve"] = "true";
        });
        using var http = env.Host.CreateHttpClient();
        // Up to 2,000 output tokens ($0.016 at most): it fits the $0.05 limit, not the $0.0098 the day's spend leaves.
        using var refused = await http.PostAsync("/v1/chat/completions", new StringContent(
            """{"model":"gpt-4.1","max_tokens":2000,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"));

        await ProxyTests.AssertErrorAsync(refused, "budget_exceeded");
        Assert.Equal(2, env.Upstream.Requests);
        var blocked = Assert.Single(await env.RecordsAsync(3), r => r.GetInt32("StatusCode") == 429);
        Assert.Equal("budget_blocked", blocked.GetString("Outcome")); // was rate_limited, as if the client's own limit
        using var me = await http.GetAsync("/spend/me");
        var budget = JsonNode.Parse(await me.Content.ReadAsStringAsync())!["budgets"]!.AsArray().Single()!;
        Assert.Equal(0.040192m, budget["spent_usd"]!.GetValue<decimal>());
        Assert.Equal(0.009808m, budget["remaining_usd"]!.GetValue<decimal>());
    }

    [Fact]
    public async Task Rollup_WritesSpendRowsPerBudgetAndPeriod()
    {
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Budgets:TimeZone"] = "Asia/Shanghai";
            s["Budgets:daily:LimitUsd"] = "1";
            s["Budgets:alpha-month:Scope"] = "client:alpha";
            s["Budgets:alpha-month:Period"] = "month";
            s["Budgets:alpha-month:LimitUsd"] = "10";
            s["Budgets:other-model:Scope"] = "model:deepseek-v3.2";
            s["Budgets:other-model:LimitUsd"] = "1";
        });
        await SpendAsync(env, 5);

        var statuses = await env.Local.Get<BudgetRollup>().RunAsync(CancellationToken.None);

        Assert.Equal(0.10048m, statuses.Single(s => s.Name == "daily").SpentUsd);
        Assert.Equal(10.05m, statuses.Single(s => s.Name == "daily").Percent);
        Assert.Equal(0.10048m, statuses.Single(s => s.Name == "alpha-month").SpentUsd);
        Assert.Equal(0m, statuses.Single(s => s.Name == "other-model").SpentUsd);
        var rows = new List<TableEntity>();
        await foreach (var e in env.Azurite.Service.GetTableClient("LlmRollups").QueryAsync<TableEntity>())
        {
            rows.Add(e);
        }

        var today = TimeZoneInfo.ConvertTime(env.Clock.GetUtcNow(), TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai")).ToString("yyyy-MM-dd");
        var daily = rows.Single(r => r.PartitionKey == "daily" && r.RowKey == "day-" + today);
        Assert.Equal(100_480_000, daily.GetInt64("SpentNanoUsd"));
        Assert.Equal(1.0, daily.GetDouble("LimitUsd"));
        Assert.Equal(10.05, daily.GetDouble("Percent"));
        Assert.NotNull(daily.GetDateTimeOffset("UpdatedAt"));
        Assert.Contains(rows, r => r.PartitionKey == "alpha-month" && r.RowKey.StartsWith("month-", StringComparison.Ordinal));

        // The same figures on /metrics.
        var scrape = await MetricsTests.ScrapeAsync(env.Host);
        Assert.Contains("api_budget_spent_usd{budget=\"daily\",scope=\"global\",period=\"day\"} 0.10048", scrape);
    }

    [Fact]
    public async Task ThresholdsNotifyEveryFormatExactlyOnce_WithTwoHostsRunningTheTimerConcurrentlyAndRepeatedly()
    {
        var receivers = new Dictionary<string, WebhookReceiver>
        {
            ["feishu"] = await WebhookReceiver.StartAsync("feishu", "feishu-secret"),
            ["dingtalk"] = await WebhookReceiver.StartAsync("dingtalk", "SECdingtalk"),
            ["slack"] = await WebhookReceiver.StartAsync("slack"),
            ["teams"] = await WebhookReceiver.StartAsync("teams"),
            ["generic"] = await WebhookReceiver.StartAsync("generic", "generic-secret"),
        };
        try
        {
            await using var env = await TestEnvironment.StartAsync(s =>
            {
                s["Budgets:daily:LimitUsd"] = "0.05";
                foreach (var (name, r) in receivers)
                {
                    s[$"Webhooks:{name}:Url"] = r.Url;
                    s[$"Webhooks:{name}:Format"] = r.Format;
                    if (r.Secret is not null)
                    {
                        s[$"Webhooks:{name}:Secret"] = r.Secret;
                    }
                }
            });
            await using var second = await env.StartHostAsync();
            await SpendAsync(env, 3); // $0.06: 120 % of $0.05

            for (var round = 0; round < 4; round++)
            {
                await Task.WhenAll(
                    env.Local.Get<BudgetRollup>().RunAsync(CancellationToken.None),
                    second.Get<BudgetRollup>().RunAsync(CancellationToken.None),
                    env.Local.Get<BudgetRollup>().RunAsync(CancellationToken.None));
            }

            foreach (var receiver in receivers.Values)
            {
                Assert.Empty(receiver.Rejected);
                Assert.Equal(3, receiver.Accepted.Count);

                // Webhook URLs carry their tokens in the path (Slack, Teams, Feishu): never logged, as HttpClient's own logging did.
                Assert.DoesNotContain(new Uri(receiver.Url).Authority, env.Host.Log + second.Log, StringComparison.Ordinal);
            }

            var generic = receivers["generic"].Accepted.Select(b => b["threshold"]!.GetValue<int>()).Order();
            Assert.Equal([50, 80, 100], generic);
            var message = receivers["generic"].Accepted.First();
            Assert.Equal("daily", message["budget"]!.GetValue<string>());
            Assert.Equal("global", message["scope"]!.GetValue<string>());
            Assert.Equal("day", message["period"]!.GetValue<string>());
            Assert.Equal(0.060288m, message["spentUsd"]!.GetValue<decimal>());
            Assert.Equal(0.05m, message["limitUsd"]!.GetValue<decimal>());
            Assert.Equal("gpt-4.1", message["topModels"]![0]!["key"]!.GetValue<string>());
            Assert.Equal("alpha", message["topClients"]![0]!["key"]!.GetValue<string>());
            Assert.NotNull(message["resetsAt"]);
            Assert.Contains("Resets at", receivers["feishu"].Accepted.First()["content"]!["text"]!.GetValue<string>());
        }
        finally
        {
            foreach (var r in receivers.Values)
            {
                await r.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ReceiverFailingTwiceThenSucceeding_GetsExactlyOneMessagePerThreshold()
    {
        await using var receiver = await WebhookReceiver.StartAsync("generic", "s3cret", failFirst: 2);
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Budgets:daily:LimitUsd"] = "0.05";
            s["Budgets:daily:Thresholds"] = "100";
            s["Webhooks:ops:Url"] = receiver.Url;
            s["Webhooks:ops:Format"] = "generic";
            s["Webhooks:ops:Secret"] = "s3cret";
        });
        await SpendAsync(env, 3);
        var rollup = env.Local.Get<BudgetRollup>();

        await rollup.RunAsync(CancellationToken.None); // attempt 1 fails
        await rollup.RunAsync(CancellationToken.None); // backing off: no attempt
        Assert.Equal(1, receiver.Attempts);
        env.Clock.Advance(TimeSpan.FromMinutes(1.5));
        await rollup.RunAsync(CancellationToken.None); // attempt 2 fails
        env.Clock.Advance(TimeSpan.FromMinutes(2.5));
        await rollup.RunAsync(CancellationToken.None); // attempt 3 succeeds
        env.Clock.Advance(TimeSpan.FromMinutes(10));
        await rollup.RunAsync(CancellationToken.None); // nothing left to send

        Assert.Equal(3, receiver.Attempts);
        Assert.Single(receiver.Accepted);
        var events = new List<TableEntity>();
        await foreach (var e in env.Azurite.Service.GetTableClient("LlmBudgetEvents").QueryAsync<TableEntity>())
        {
            events.Add(e);
        }

        var evt = Assert.Single(events);
        Assert.Equal("delivered", evt.GetString("Status"));
        Assert.Equal(3, evt.GetInt32("Attempts"));
        Assert.True(evt.GetBoolean("Delivered_ops"));
    }

    [Fact]
    public async Task DailySummary_SendsYesterdaysSpendByModelAndClientOnce()
    {
        await using var receiver = await WebhookReceiver.StartAsync("generic", "s3cret");
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Budgets:DailySummary"] = "true";
            s["Webhooks:ops:Url"] = receiver.Url;
            s["Webhooks:ops:Format"] = "generic";
            s["Webhooks:ops:Secret"] = "s3cret";
        });
        receiver.Clock = env.Clock;
        await using var second = await env.StartHostAsync();
        await SpendAsync(env, 3);

        await env.Local.Get<BudgetRollup>().RunAsync(CancellationToken.None);
        Assert.Empty(receiver.Accepted); // today is not over yet

        env.Clock.Advance(TimeSpan.FromDays(1));
        await Task.WhenAll(env.Local.Get<BudgetRollup>().RunAsync(CancellationToken.None), second.Get<BudgetRollup>().RunAsync(CancellationToken.None));
        await env.Local.Get<BudgetRollup>().RunAsync(CancellationToken.None);

        var summary = Assert.Single(receiver.Accepted);
        Assert.Equal("daily_summary", summary["kind"]!.GetValue<string>());
        Assert.Equal(0.060288m, summary["spentUsd"]!.GetValue<decimal>());
        Assert.Equal("gpt-4.1", summary["topModels"]![0]!["key"]!.GetValue<string>());
        Assert.Equal("alpha", summary["topClients"]![0]!["key"]!.GetValue<string>());
    }

    [Fact]
    public async Task BlockBudget_Answers429BudgetExceededWithItsResetAndNoRetry_AndRaisingTheLimitLiftsIt()
    {
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Budgets:hard:Scope"] = "client:alpha";
            s["Budgets:hard:LimitUsd"] = "0.05";
            s["Budgets:hard:Action"] = "block";
        });
        await SpendAsync(env, 3);
        await RollUpAndRefreshAsync(env);
        var calls = env.Upstream.Requests;

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => env.OpenAI().GetChatClient("gpt-4.1").CompleteChatAsync([new UserChatMessage("more")]));

        Assert.Equal(429, ex.Status);
        var raw = ex.GetRawResponse()!;
        var error = JsonNode.Parse(raw.Content.ToString())!["error"]!;
        Assert.Equal("budget_exceeded", error["type"]!.GetValue<string>());
        Assert.Equal("budget_exceeded", error["code"]!.GetValue<string>());
        Assert.Contains("Budget 'hard'", error["message"]!.GetValue<string>());
        Assert.Contains("$0.05", error["message"]!.GetValue<string>());
        Assert.Contains("resets at", error["message"]!.GetValue<string>());
        Assert.False(raw.Headers.TryGetValue("Retry-After", out _)); // SDKs wait it out uncapped: hours, silently
        Assert.True(raw.Headers.TryGetValue("x-should-retry", out var shouldRetry));
        Assert.Equal("false", shouldRetry);
        Assert.True(raw.Headers.TryGetValue("x-llm-budget-reset", out var reset));
        Assert.Equal(new DateTimeOffset(env.Clock.GetUtcNow().UtcDateTime.Date.AddDays(1), TimeSpan.Zero), // a day budget in UTC: the next midnight
            DateTimeOffset.Parse(reset!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(calls, env.Upstream.Requests);

        // Another client is outside the scope.
        using var beta = env.Host.CreateHttpClient(ProxyHost.OtherClientKey);
        using var ok = await beta.PostAsync("/v1/chat/completions",
            new StringContent("""{"model":"gpt-4.1","messages":[]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);

        // Budget raised mid-period: the same spend is now under the limit.
        await env.RestartHostAsync(s => s["Budgets:hard:LimitUsd"] = "10");
        await RollUpAndRefreshAsync(env);
        await env.OpenAI().GetChatClient("gpt-4.1").CompleteChatAsync([new UserChatMessage("allowed again")]);
    }

    [Fact]
    public async Task ShadowBudget_BlocksNothing_RecordsAndCountsWhatItWouldHaveBlocked_AndTheHeaderSaysWhatIsLeft()
    {
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Budgets:trial:Scope"] = "client:alpha";
            s["Budgets:trial:LimitUsd"] = "0.05";
            s["Budgets:trial:Action"] = "shadow";
            s["Budgets:wide:LimitUsd"] = "1";
        });
        await SpendAsync(env, 2);

        // Past the few seconds in which a rollup and this instance's own count may both hold a record (they overlap on
        // purpose: a block errs on the safe side), so the figure below is exact.
        env.Clock.Advance(TimeSpan.FromSeconds(10));
        await RollUpAndRefreshAsync(env);

        // $0.040192 of $0.05 spent: $0.009808 left on the tightest budget, nothing shadow-blocked yet.
        var first = await env.OpenAI().GetChatClient("gpt-4.1").CompleteChatAsync([new UserChatMessage("still under")]);
        Assert.True(first.GetRawResponse().Headers.TryGetValue("x-llm-budget-remaining-usd", out var left));
        Assert.Equal("0.009808", left);

        // Over the limit now (this instance counts its own spend at once): served, and counted as a shadow block.
        var over = await env.OpenAI().GetChatClient("gpt-4.1").CompleteChatAsync([new UserChatMessage("over")]);
        Assert.True(over.GetRawResponse().Headers.TryGetValue("x-llm-budget-remaining-usd", out var none));
        Assert.Equal("0.000000", none);
        Assert.Equal(4, env.Upstream.Requests);

        var records = await env.RecordsAsync(4);
        Assert.Single(records, r => r.GetString("BudgetShadowBlocks") == "trial");
        var scrape = await MetricsTests.ScrapeUntilAsync(env.Host, "api_budget_shadow_blocks_total{budget=\"trial\"}", 1);
        Assert.Equal(4, MetricsTests.Value(scrape, "api_requests_by_status{status=\"200\"}"));

        // A client no budget but "wide" covers sees that one's remainder.
        using var beta = env.Host.CreateHttpClient(ProxyHost.OtherClientKey);
        using var ok = await beta.PostAsync("/v1/chat/completions",
            new StringContent("""{"model":"gpt-4.1","messages":[]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var wideLeft = decimal.Parse(ok.Headers.GetValues("x-llm-budget-remaining-usd").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(wideLeft, 0.91m, 0.96m);
    }

    [Fact]
    public async Task DowngradeBudget_SwapsTheModelAndRecordsBoth()
    {
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Budgets:soft:LimitUsd"] = "0.05";
            s["Budgets:soft:Action"] = "downgrade";
            s["Budgets:soft:DowngradeTo"] = "gpt-4.1-mini";
        });
        await SpendAsync(env, 3);
        await RollUpAndRefreshAsync(env);

        var result = await env.OpenAI().GetChatClient("gpt-4.1").CompleteChatAsync([new UserChatMessage("cheaper please")]);

        Assert.True(result.GetRawResponse().Headers.TryGetValue("x-llm-downgraded-from", out var from));
        Assert.Equal("gpt-4.1", from);
        Assert.Equal("gpt-4.1-mini", JsonNode.Parse(env.Upstream.SeenBodies.Last())!["model"]!.GetValue<string>());
        var records = await env.RecordsAsync(4);
        var downgraded = records.Single(r => r.GetString("UsedModel") == "gpt-4.1-mini");
        Assert.Equal("gpt-4.1", downgraded.GetString("Model"));
        Assert.Equal((10_000 * 0.40m + 12 * 1.60m) * 1000, downgraded.GetInt64("CostNanoUsd")!.Value);
    }

    [Fact]
    public async Task MaxCostPerCall_RefusesAnExpensiveCallBeforeTheUpstream()
    {
        await using var env = await TestEnvironment.StartAsync(s => s["Budgets:MaxCostPerCallUsd"] = "0.5");
        var chat = env.OpenAI().GetChatClient("gpt-4.1");

        var ex = await Assert.ThrowsAsync<ClientResultException>(() =>
            chat.CompleteChatAsync([new UserChatMessage("write a novel")], new ChatCompletionOptions { MaxOutputTokenCount = 100_000 }));

        Assert.Equal(400, ex.Status);
        var error = JsonNode.Parse(ex.GetRawResponse()!.Content.ToString())!["error"]!;
        Assert.Equal("max_cost_per_call_exceeded", error["code"]!.GetValue<string>());
        Assert.Contains("Budgets__MaxCostPerCallUsd", error["message"]!.GetValue<string>());
        Assert.Equal(0, env.Upstream.Requests);

        // Within the guard: forwarded.
        await chat.CompleteChatAsync([new UserChatMessage("short")], new ChatCompletionOptions { MaxOutputTokenCount = 1000 });
        Assert.Equal(1, env.Upstream.Requests);
    }
}
