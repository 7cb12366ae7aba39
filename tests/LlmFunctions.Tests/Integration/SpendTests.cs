using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Records;
using LlmFunctions.Tests.Infrastructure;
using OpenAI.Chat;

namespace LlmFunctions.Tests.Integration;

/// <summary>The spend endpoints end to end: reports that agree with the records and /metrics, pages of calls, /spend/me.</summary>
public sealed class SpendTests
{
    private const string AdminKey = "sk-admin-key-for-spend-tests";

    private static void WithAdmin(Dictionary<string, string?> s) =>
        s["Admin:KeySha256"] = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(AdminKey)));

    /// <summary>3 calls by alpha through the SDK (untagged), 2 by beta tagged team-a,batch for user u-1, 1 by beta tagged team-b.</summary>
    private static async Task DriveAsync(TestEnvironment env)
    {
        var chat = env.OpenAI().GetChatClient("gpt-4.1");
        for (var i = 0; i < 3; i++)
        {
            await chat.CompleteChatAsync([new UserChatMessage("report me")]);
        }

        using var beta = env.Host.CreateHttpClient(ProxyHost.OtherClientKey);
        foreach (var (tags, user) in new[] { ("team-a,batch", "u-1"), ("batch,team-a", "u-1"), ("team-b", "") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = new StringContent(
                    $$"""{"model":"gpt-4.1-mini","user":"{{user}}","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("x-llm-tags", tags);
            using var response = await beta.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await env.RecordsAsync(6);
    }

    private static async Task<JsonNode> GetJsonAsync(ITestHost host, string key, string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var http = host.CreateHttpClient(key);
        using var response = await http.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    private static long Nano(JsonNode? usd) => (long)decimal.Round(usd!.GetValue<decimal>() * 1_000_000_000m);

    [Theory]
    [OnBothHosts]
    public async Task Report_GroupsByClientModelTagAndUser_AndAgreesWithTheRecordsAndMetrics_ToTheNanoDollar(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin, kind: kind);
        await DriveAsync(env);
        var records = await env.RecordsAsync(6);

        var report = await GetJsonAsync(env.Host, AdminKey, "/spend?group_by=client,model");

        var rows = report["data"]!.AsArray();
        Assert.Equal(["alpha/gpt-4.1", "beta/gpt-4.1-mini"], rows.Select(r => $"{r!["client"]}/{r["model"]}"));
        Assert.All(rows, r => Assert.Null(r!["tag"]));
        var total = report["total"]!;
        Assert.Equal(6, total["calls"]!.GetValue<long>());
        Assert.Equal(records.Sum(r => r.GetInt64("CostNanoUsd")!.Value), Nano(total["cost_usd"]));
        Assert.Equal(records.Sum(r => r.GetInt64("InputTokens")!.Value), total["input_tokens"]!.GetValue<long>());
        Assert.Equal(records.Sum(r => r.GetInt64("OutputTokens")!.Value), total["output_tokens"]!.GetValue<long>());
        Assert.Equal(records.Where(r => r.GetString("Client") == "alpha").Sum(r => r.GetInt64("CostNanoUsd")!.Value), Nano(rows[0]!["cost_usd"]));
        var metrics = await MetricsTests.ScrapeAsync(env.Host);
        Assert.Equal(Nano(total["cost_usd"]), (long)Math.Round(MetricsTests.Value(metrics, "api_cost_usd_total") * 1e9));
        Assert.Equal(Nano(rows[1]!["cost_usd"]), (long)Math.Round(MetricsTests.Value(metrics, "api_cost_by_client_total{client=\"beta\"}") * 1e9));

        // By tag a call counts under each of its tags, in any order the header named them; untagged calls under "".
        var byTag = await GetJsonAsync(env.Host, AdminKey, "/spend?group_by=tag");
        Assert.Equal(["/3", "batch/2", "team-a/2", "team-b/1"], byTag["data"]!.AsArray().Select(r => $"{r!["tag"]}/{r["calls"]}"));
        Assert.Equal(6, byTag["total"]!["calls"]!.GetValue<long>());
        var byUser = await GetJsonAsync(env.Host, AdminKey, "/spend?group_by=user&tag=batch");
        var user = Assert.Single(byUser["data"]!.AsArray())!;
        Assert.Equal("u-1/2", $"{user["user"]}/{user["calls"]}");

        using var http = env.Host.CreateHttpClient(AdminKey);
        http.DefaultRequestHeaders.Accept.ParseAdd("text/csv");
        using var csv = await http.GetAsync("/spend?group_by=day,client");
        Assert.Equal("text/csv; charset=utf-8", csv.Content.Headers.ContentType!.ToString());
        var lines = (await csv.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("period,client,model,user,tag,calls,input_tokens,output_tokens,cached_input_tokens,cost_usd,unpriced_calls", lines[0]);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith(DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) + ",alpha,,,,3,", lines[1],
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Report_IsTheSameBeforeAndAfterTheFold()
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin);
        await DriveAsync(env);
        var before = (await GetJsonAsync(env.Host, AdminKey, "/spend?group_by=day,client,model,user,tag")).ToJsonString();

        env.Clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(6, await env.Local.Get<AggregateFolder>().FoldAsync(CancellationToken.None));
        await env.RestartHostAsync(); // and a cold start: nothing comes from memory

        Assert.Equal(before, (await GetJsonAsync(env.Host, AdminKey, "/spend?group_by=day,client,model,user,tag")).ToJsonString());
        Assert.Contains("\"calls\":6", before, StringComparison.Ordinal);
    }

    [Theory]
    [OnBothHosts]
    public async Task ClientKey_ReadsOnlyItsOwnSpend_AndSpendMeShowsTheBudgetsThatApply(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            WithAdmin(s);
            s["Budgets:alpha-day:Scope"] = "client:alpha";
            s["Budgets:alpha-day:LimitUsd"] = "1";
            s["Budgets:alpha-day:Action"] = "block";
            s["Budgets:beta-day:Scope"] = "client:beta";
            s["Budgets:beta-day:LimitUsd"] = "1";
            s["Budgets:team-a:Scope"] = "tag:team-a";
            s["Budgets:team-a:Period"] = "month";
            s["Budgets:team-a:LimitUsd"] = "5";
        }, kind: kind);
        await DriveAsync(env);
        var records = await env.RecordsAsync(6);

        var own = await GetJsonAsync(env.Host, ProxyHost.ClientKey, "/spend?group_by=client");
        Assert.Equal("alpha", Assert.Single(own["data"]!.AsArray())!["client"]!.GetValue<string>());
        var refused = await GetJsonAsync(env.Host, ProxyHost.ClientKey, "/spend?client=beta", HttpStatusCode.Forbidden);
        Assert.Equal("permission_denied", refused["error"]!["code"]!.GetValue<string>());

        await env.Host.RunBudgetRollupAsync();
        var me = await GetJsonAsync(env.Host, ProxyHost.ClientKey, "/spend/me");
        Assert.Equal("alpha", me["client"]!.GetValue<string>());
        Assert.Equal(3, me["today"]!["calls"]!.GetValue<long>());
        var alphaNano = records.Where(r => r.GetString("Client") == "alpha").Sum(r => r.GetInt64("CostNanoUsd")!.Value);
        Assert.Equal(alphaNano, Nano(me["month"]!["cost_usd"]));
        var budgets = me["budgets"]!.AsArray();
        Assert.Equal(["alpha-day", "team-a"], budgets.Select(b => b!["name"]!.GetValue<string>()).Order(StringComparer.Ordinal));
        var day = budgets.Single(b => b!["name"]!.GetValue<string>() == "alpha-day")!;
        Assert.Equal(alphaNano, Nano(day["spent_usd"]));
        Assert.Equal(1_000_000_000 - alphaNano, Nano(day["remaining_usd"]));
        Assert.Equal("block", day["action"]!.GetValue<string>());
    }

    [Theory]
    [OnBothHosts]
    public async Task Calls_PageThroughTheRecords_WithACursor(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin, kind: kind);
        await DriveAsync(env);
        var records = await env.RecordsAsync(6);

        // Pages hold only minutes past the fold lag, which no instance still writes to. The Functions worker runs on the
        // real clock, so this waits (70 s at most: a minute and the tests' 10 s lag) for the records' minute to settle there.
        var newest = records.Max(r => RecordKeys.ParseMinute(r.PartitionKey[..RecordKeys.MinuteFormat.Length]));
        if (kind == HostKind.Functions)
        {
            // Until the page shows all six, bounded by when their minute is past the lag (and 15 s for a loaded machine).
            var until = newest.AddMinutes(1).AddSeconds(10 + 15);
            while ((await GetJsonAsync(env.Host, AdminKey, "/spend/calls?limit=10"))["data"]!.AsArray().Count < records.Count)
            {
                Assert.True(DateTimeOffset.UtcNow < until, "the records' minute never came past the fold lag");
                await Task.Delay(1_500); // 40 polls a minute at most, leaving room under the 60 spend requests a key may make
            }
        }
        else
        {
            env.Clock.Advance(TimeSpan.FromMinutes(2));
        }

        var seen = new List<string>();
        string? next = null;
        var pages = 0;
        do
        {
            var page = await GetJsonAsync(env.Host, AdminKey, "/spend/calls?limit=2" + (next is null ? "" : "&after=" + next));
            seen.AddRange(page["data"]!.AsArray().Select(r => r!["id"]!.GetValue<string>()));
            next = page["next"]?.GetValue<string>();
            Assert.Equal(next is not null, page["has_more"]!.GetValue<bool>());
            pages++;
        }
        while (next is not null && pages < 10);

        Assert.Equal(records.Select(r => r.RowKey).Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));
        Assert.InRange(pages, 3, 4);

        var beta = await GetJsonAsync(env.Host, ProxyHost.OtherClientKey, "/spend/calls?tag=team-a");
        var rows = beta["data"]!.AsArray();
        Assert.Equal(2, rows.Count);
        Assert.All(rows, r => Assert.Equal(("beta", "u-1"), (r!["client"]!.GetValue<string>(), r["user"]!.GetValue<string>())));
        Assert.Contains("team-a", rows[0]!["tags"]!.AsArray().Select(t => t!.GetValue<string>()));
    }

    [Fact]
    public async Task AStoredRowItCannotRead_GetsA500InTheOpenAIShape()
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin);
        var store = env.Local.Get<TableStore>();
        await store.EnsureTablesAsync(CancellationToken.None);
        var anHourAgo = env.Clock.GetUtcNow().AddHours(-1);
        await store.Aggregates.UpsertAsync(new Azure.Data.Tables.TableEntity(StateRow.PartitionKey,
            SlotRow.Prefix + SlotRow.SlotOf(anHourAgo)) { ["Json"] = "{not json" }, CancellationToken.None);
        using var http = env.Host.CreateHttpClient(AdminKey);

        using var response = await http.GetAsync($"/spend?from={anHourAgo:yyyy-MM-dd}&to={env.Clock.GetUtcNow():yyyy-MM-dd}");

        Assert.Equal(500, (int)response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal(("internal_error", "server_error"), (error["code"]!.GetValue<string>(), error["type"]!.GetValue<string>()));
    }

    [Theory]
    [InlineData("/spend?group_by=week", AdminKey, 400, "invalid_query", "Unknown group_by 'week'")]
    [InlineData("/spend?from=2026-11-10&to=2026-11-01", AdminKey, 400, "invalid_query", "'from' (2026-11-10) is after 'to' (2026-11-01).")]
    [InlineData("/spend?from=2025-01-01&to=2026-11-01", AdminKey, 400, "invalid_query", "The range covers 670 days; at most 366")]
    [InlineData("/spend?from=11/01/2026", AdminKey, 400, "invalid_query", "'from' must be a date, yyyy-MM-dd, from 2000-01-01")]
    [InlineData("/spend?from=9999-12-01&to=9999-12-31", AdminKey, 400, "invalid_query", "'from' must be a date, yyyy-MM-dd, from 2000-01-01")]
    [InlineData("/spend?from=0001-01-01&to=0001-01-02", AdminKey, 400, "invalid_query", "'from' must be a date")]
    [InlineData("/spend?groupby=day", AdminKey, 400, "invalid_query", "Unknown query parameter 'groupby'")]
    [InlineData("/spend?format=xml", AdminKey, 400, "invalid_query", "'format' must be json or csv.")]
    [InlineData("/spend/calls?after=bm90LWEtY3Vyc29y", AdminKey, 400, "invalid_query", "'after' is not a cursor")]
    [InlineData("/spend/calls?limit=0", AdminKey, 400, "invalid_query", "'limit' must be a whole number from 1 to 1000.")]
    [InlineData("/spend/me", AdminKey, 400, "client_key_required", "/spend/me answers for a client key")]
    [InlineData("/spend", "sk-not-a-key", 401, "invalid_api_key", "A valid key is required")]
    [InlineData("/spend/me", null, 401, "invalid_api_key", "A valid key is required")]
    public async Task BadInput_GetsAClearErrorInTheOpenAIShape(string path, string? key, int status, string code, string message)
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin);
        using var http = env.Host.CreateHttpClient(key);

        using var response = await http.GetAsync(path);

        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(status, (int)response.StatusCode);
        var error = JsonNode.Parse(body)!["error"]!;
        Assert.Equal(code, error["code"]!.GetValue<string>());
        Assert.StartsWith(message, error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.DoesNotContain(AdminKey, body, StringComparison.Ordinal);
        Assert.Equal(0, env.Upstream.Requests); // never forwarded
    }
}
