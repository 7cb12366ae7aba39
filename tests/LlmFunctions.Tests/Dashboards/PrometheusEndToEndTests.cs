using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LlmFunctions.Core.Budgets;
using LlmFunctions.Tests.Infrastructure;
using LlmFunctions.Tests.Integration;

namespace LlmFunctions.Tests.Dashboards;

/// <summary>
/// A real Prometheus scraping the local host (fake upstream injecting 429s, 5xx and timeouts), loading the
/// shipped alert rules with <c>for:</c> shortened: the metrics work in PromQL, the alerts fire, and every query of
/// the shipped Grafana dashboard evaluates and returns series.
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed partial class PrometheusEndToEndTests
{
    [Fact]
    public async Task RealPrometheus_ScrapesAndRunsEveryDashboardQuery_FiresTheSixAlertsItsTrafficDrives_AndNotTheFiveItDoesNot()
    {
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Upstream:MaxRetries"] = "1";
            s["Upstream:TimeoutSeconds"] = "1";
            s["Budgets:daily:Scope"] = "global";
            s["Budgets:daily:Period"] = "day";
            s["Budgets:daily:LimitUsd"] = "5";
            s["Budgets:monthly:Scope"] = "client:alpha";
            s["Budgets:monthly:Period"] = "month";
            s["Budgets:monthly:LimitUsd"] = "50";
            s["Metrics:Tags"] = "team-a";
        });
        var work = Directory.CreateTempSubdirectory("llmf-prom-");
        var promPort = Ports.Free();
        await using var prometheus = await StartPrometheusAsync(work.FullName, promPort, new Uri(env.Host.BaseUrl).Port);
        using var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{promPort}") };

        // Traffic of every kind the dashboard shows, in two waves so counters rise between scrapes: `increase()`
        // needs a sample before the rise, so each wave waits until Prometheus has scraped what came before it (its
        // first scrape of a new target can come seconds after it is ready).
        await WaitForSeriesAsync(api, "up == 1");
        await DriveAsync(env, wave: 1);
        await env.Local.Get<BudgetRollup>().RunAsync(CancellationToken.None);
        await WaitForSeriesAsync(api, "api_requests_by_status{status=\"429\"} >= 1");
        await DriveAsync(env, wave: 2);
        await env.Local.Get<BudgetRollup>().RunAsync(CancellationToken.None);

        // The shipped alerts this traffic drives (every `for:` is 0 s here) fire; the ones it gives no cause stay quiet.
        // LlmBudgetBurnRate is in neither list: a minute's derivative projected over the rest of the day may or may not
        // cross the limit. Checked once Prometheus has evaluated the rules on the second wave's samples.
        string[] driven = ["LlmRateLimited", "LlmServerErrors", "LlmTimeouts", "LlmErrorRateHigh", "LlmExpensiveCall", "LlmUnpricedModel"];
        string[] quiet = ["LlmMetricsTargetDown", "LlmMeteringSpoolBacklog", "LlmMeteringFoldBacklog", "LlmDailyCostHigh", "LlmHighLatency"];
        var firing = await WaitForAlertsAsync(api, driven, TimeSpan.FromSeconds(60));
        if (!driven.All(firing.Contains) || quiet.Any(firing.Contains))
        {
            // Say what Prometheus saw: the samples behind the alerts and the scrape health.
            var seen = new StringBuilder();
            foreach (var query in new[] { "api_requests_by_status[3m]", "api_timeout_total[3m]", "up[3m]", "scrape_duration_seconds[3m]" })
            {
                seen.AppendLine(query)
                    .AppendLine((await api.GetFromJsonAsync<JsonNode>("/api/v1/query?query=" + Uri.EscapeDataString(query)))!["data"]!.ToJsonString());
            }

            Assert.Fail($"Firing: {string.Join(", ", firing)}; expected {string.Join(", ", driven)} and none of {string.Join(", ", quiet)}.\n"
                + $"{seen}\nPrometheus:\n{prometheus.Output[^Math.Min(2000, prometheus.Output.Length)..]}");
        }

        // The queries the issue names.
        foreach (var query in new[]
        {
            "api_requests_total",
            "histogram_quantile(0.99, rate(api_request_duration_seconds_bucket[5m]))",
            "increase(api_cost_usd_total[1h])",
        })
        {
            Assert.True(await QueryHasSeriesAsync(api, query), query);
        }

        // Every dashboard query, variables substituted.
        var failures = new List<string>();
        Assert.True(DashboardQueries().Count() >= 25, "the dashboard lost its queries");
        foreach (var expr in DashboardQueries())
        {
            var query = Substitute(expr);
            if (!await QueryHasSeriesAsync(api, query))
            {
                failures.Add(query);
            }
        }

        Assert.True(failures.Count == 0, "Dashboard queries without series:\n" + string.Join('\n', failures)
            + "\n\nPrometheus:\n" + prometheus.Output[^Math.Min(2000, prometheus.Output.Length)..]);
    }

    private static async Task DriveAsync(TestEnvironment env, int wave)
    {
        using var http = env.Host.CreateHttpClient();
        async Task Call(string body, string? scenario = null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, body.Contains("\"input\"") ? "/v1/embeddings" : "/v1/chat/completions")
            {
                Content = new StringContent(body, Encoding.UTF8, "application/json"),
            };
            if (scenario is not null)
            {
                request.Headers.Add("x-fake-scenario", scenario);
            }

            request.Headers.Add("x-llm-tags", "team-a,batch"); // the by-tag panel (only team-a is listed)

            using var response = await http.SendAsync(request);
            await response.Content.ReadAsStringAsync();
        }

        const string chat = """{"model":"gpt-4.1","messages":[{"role":"user","content":"hello"}]}""";
        const string stream = """{"model":"claude-sonnet-4.5","stream":true,"messages":[{"role":"user","content":"hello"}]}""";
        for (var i = 0; i < 3 * wave; i++)
        {
            await Call(chat);
            await Call(stream);
            await Call("""{"model":"my-unpriced-model","messages":[{"role":"user","content":"x"}]}""");
            await Call(chat, "no-usage");
            await Call("""{"model":"text-embedding-3-small","input":"x"}""");
        }

        // 429s and 5xx: one in the first wave (so the series exist), more in the second.
        var rateLimited = wave == 1 ? 1 : 14;
        for (var i = 0; i < rateLimited; i++)
        {
            await Call(chat, "status=429");
        }

        // 5xx, and timeouts (Upstream__TimeoutSeconds=1): LlmTimeouts wants more than 5 in 5 minutes, so 1 then 6, the
        // second wave's at once (each waits out a timeout and a retry's).
        for (var i = 0; i < (wave == 1 ? 1 : 3); i++)
        {
            await Call(chat, "status=500");
        }

        await Task.WhenAll(Enumerable.Range(0, wave == 1 ? 1 : 6).Select(_ => Call(chat, "delay-ms=1500")));

        // A call over $0.5 (100K in + 50K out on claude-sonnet-4.5 is $1.05).
        await Call("""{"model":"claude-sonnet-4.5","messages":[{"role":"user","content":"big"}]}""", "words=50000");
    }

    private static async Task<ChildProcess> StartPrometheusAsync(string dir, int port, int targetPort)
    {
        File.WriteAllText(Path.Combine(dir, "token"), "scrape-token-for-tests");

        // The shipped rules with every `for:` shortened so alerts fire within the test.
        var rules = File.ReadAllText(Repo.Path("dashboards", "prometheus", "alerts.yml"));
        File.WriteAllText(Path.Combine(dir, "alerts.yml"), ForClause().Replace(rules, "for: 0s"));
        File.WriteAllText(Path.Combine(dir, "prometheus.yml"), $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files: [alerts.yml]
            scrape_configs:
              - job_name: llm-functions-local
                scrape_interval: 1s
                metrics_path: /metrics
                authorization:
                  type: Bearer
                  credentials_file: {Path.Combine(dir, "token")}
                static_configs:
                  - targets: ["127.0.0.1:{targetPort}"]
            """);
        var (code, check) = await ChildProcess.RunAsync(Repo.Promtool, ["check", "config", Path.Combine(dir, "prometheus.yml")], TimeSpan.FromSeconds(30));
        Assert.True(code == 0, check);

        var process = ChildProcess.Start(Repo.Prometheus,
        [
            "--config.file=" + Path.Combine(dir, "prometheus.yml"),
            "--storage.tsdb.path=" + Path.Combine(dir, "data"),
            "--web.listen-address=127.0.0.1:" + port,
        ]);
        await process.WaitForOutputAsync("Server is ready to receive web requests", TimeSpan.FromSeconds(60));
        return process;
    }

    private static async Task<HashSet<string>> WaitForAlertsAsync(HttpClient api, string[] names, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        var firing = new HashSet<string>();
        while (DateTime.UtcNow < until)
        {
            var alerts = await api.GetFromJsonAsync<JsonNode>("/api/v1/alerts");
            firing = alerts!["data"]!["alerts"]!.AsArray()
                .Where(a => a!["state"]!.GetValue<string>() == "firing")
                .Select(a => a!["labels"]!["alertname"]!.GetValue<string>())
                .ToHashSet();
            if (names.All(firing.Contains))
            {
                return firing;
            }

            await Task.Delay(1000);
        }

        return firing;
    }

    private static async Task WaitForSeriesAsync(HttpClient api, string query)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await QueryHasSeriesAsync(api, query))
        {
            Assert.True(DateTime.UtcNow < until, $"Prometheus never returned a series for {query} within 30 s.");
            await Task.Delay(250);
        }
    }

    internal static async Task<bool> QueryHasSeriesAsync(HttpClient api, string query)
    {
        var response = await api.GetFromJsonAsync<JsonNode>("/api/v1/query?query=" + Uri.EscapeDataString(query));
        return response!["status"]!.GetValue<string>() == "success" && response["data"]!["result"]!.AsArray().Count > 0;
    }

    internal static IEnumerable<string> DashboardQueries()
    {
        var dashboard = JsonNode.Parse(File.ReadAllText(Repo.Path("dashboards", "grafana", "llm-functions.json")))!;
        var panels = new Stack<JsonNode>(dashboard["panels"]!.AsArray()!);
        while (panels.TryPop(out var panel))
        {
            foreach (var nested in panel["panels"]?.AsArray() ?? [])
            {
                panels.Push(nested!);
            }

            foreach (var target in panel["targets"]?.AsArray() ?? [])
            {
                if (target?["expr"]?.GetValue<string>() is { Length: > 0 } expr)
                {
                    yield return expr;
                }
            }
        }
    }

    internal static string Substitute(string expr) => expr
        .Replace("$__rate_interval", "1m").Replace("${__rate_interval}", "1m")
        .Replace("$__range", "1h").Replace("${__range}", "1h")
        .Replace("$__interval", "15s").Replace("${__interval}", "15s")
        .Replace("${model:regex}", ".*").Replace("${client:regex}", ".*")
        .Replace("${model}", ".*").Replace("${client}", ".*")
        .Replace("$model", ".*").Replace("$client", ".*");

    [GeneratedRegex(@"for:\s*\d+[smh]")]
    private static partial Regex ForClause();
}
