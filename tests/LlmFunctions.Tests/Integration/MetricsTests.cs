using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace LlmFunctions.Tests.Integration;

/// <summary>/metrics on real Azurite: durable, equal across hosts, monotonic across restarts, never double-counted.</summary>
public sealed partial class MetricsTests
{
    private const string Token = "scrape-token-for-tests";

    internal static async Task<string> ScrapeAsync(ITestHost host, string? token = Token)
    {
        using var http = host.CreateHttpClient(token);
        using var response = await http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>
    /// Scrapes until <paramref name="series"/> reaches <paramref name="expected"/>: another instance's records reach a
    /// scrape within its tail flush interval (a scrape flushes its own instance's first). Fails after 10 s.
    /// </summary>
    internal static async Task<string> ScrapeUntilAsync(ITestHost host, string series, double expected)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            var text = await ScrapeAsync(host);
            if (TryValue(text, series) == expected || deadline.IsCancellationRequested)
            {
                Assert.Equal(expected, Value(text, series));
                return text;
            }

            await Task.Delay(200);
        }
    }

    /// <summary>A series' value; a series missing from the exposition fails the test (two vanished series are not equal).</summary>
    internal static double Value(string exposition, string series) =>
        TryValue(exposition, series) ?? throw new Xunit.Sdk.XunitException($"The series {series} is not in the exposition.");

    /// <summary>A series' value, or null when the exposition has no such series (yet).</summary>
    internal static double? TryValue(string exposition, string series)
    {
        foreach (var line in exposition.Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    internal static async Task DriveAsync(ITestHost host, int calls, string key = ProxyHost.ClientKey)
    {
        using var http = host.CreateHttpClient(key);
        for (var i = 0; i < calls; i++)
        {
            var stream = i % 2 == 0 ? "true" : "false";
            using var r = await http.PostAsync("/v1/chat/completions",
                new StringContent($$"""{"model":"gpt-4.1","stream":{{stream}},"messages":[{"role":"user","content":"call {{i}}"}]}""",
                    Encoding.UTF8, "application/json"));
            await r.Content.ReadAsStringAsync();
        }
    }

    private static async Task<(long Calls, long CostNano)> SumRecordsAsync(Azurite azurite)
    {
        long calls = 0, cost = 0;
        foreach (var e in await azurite.AllCallsAsync())
        {
            calls++;
            cost += e.GetInt64("CostNanoUsd") ?? 0;
        }

        return (calls, cost);
    }

    [Fact]
    public async Task WithoutToken_Is401AndSaysWhy_ExceptLoopbackInDevelopment()
    {
        await using var env = await TestEnvironment.StartAsync(s => s.Remove("Metrics:BearerToken"));
        using var http = env.Host.CreateHttpClient(null);
        using var response = await http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("Metrics__BearerToken is not configured", await response.Content.ReadAsStringAsync());

        await using var dev = await env.StartHostAsync(environment: "Development");
        await ScrapeAsync(dev, token: null);
    }

    /// <summary>Issue 25 (6): a configured token is wanted from every caller, loopback in Development too (behind the
    /// Functions host every caller looks like loopback).</summary>
    [Fact]
    public async Task AConfiguredToken_IsRequiredOfLoopbackCallersInDevelopmentToo()
    {
        await using var env = await TestEnvironment.StartAsync();
        await using var dev = await env.StartHostAsync(environment: "Development");
        using var http = dev.CreateHttpClient(null);

        using var response = await http.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("A valid scrape token is required", await response.Content.ReadAsStringAsync());
        await ScrapeAsync(dev, Token);
    }

    [Fact]
    public async Task StorageDown_ScrapeFailsWith503NotPartialCounters()
    {
        await using var azurite = await Azurite.StartAsync();
        await using var env = await TestEnvironment.StartAsync(sharedAzurite: azurite);
        await DriveAsync(env.Host, 2);
        await env.RecordsAsync(2);
        azurite.Pause();
        try
        {
            using var http = env.Host.CreateHttpClient(Token);
            using var response = await http.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            await ProxyTests.AssertErrorAsync(response, "storage_unavailable");
        }
        finally
        {
            azurite.Resume();
        }

        // The first use of storage was during the outage: the scrape recovers as soon as storage is back.
        Assert.Equal(2, Value(await ScrapeAsync(env.Host), "api_requests_by_status{status=\"200\"}"));
    }

    [Fact]
    public async Task WrongToken_Is401()
    {
        await using var env = await TestEnvironment.StartAsync();
        using var http = env.Host.CreateHttpClient("wrong");
        using var response = await http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task TwoHostsOnOneStorage_AgreeWithEachOtherAndWithTheRecords()
    {
        await using var env = await TestEnvironment.StartAsync();
        await using var second = await env.StartHostAsync();
        await Task.WhenAll(DriveAsync(env.Host, 30), DriveAsync(second, 20, ProxyHost.OtherClientKey));

        var records = await env.RecordsAsync(50);
        var (calls, costNano) = await SumRecordsAsync(env.Azurite);
        Assert.Equal(50, calls);

        var a = await ScrapeUntilAsync(env.Host, "api_requests_by_status{status=\"200\"}", 50);
        var b = await ScrapeUntilAsync(second, "api_requests_by_status{status=\"200\"}", 50);
        Assert.Equal(50, Value(a, "api_requests_by_status{status=\"200\"}"));
        Assert.Equal(50, Value(b, "api_requests_by_status{status=\"200\"}"));
        Assert.Equal((double)Core.Pricing.CostCalculator.ToUsd(costNano), Value(a, "api_cost_usd_total"), 9);
        Assert.Equal(Value(a, "api_cost_usd_total"), Value(b, "api_cost_usd_total"));
        Assert.Equal(30, Value(a,
            "api_requests_total{method=\"POST\",endpoint=\"/v1/chat/completions\",status=\"200\",model=\"gpt-4.1\",client=\"alpha\",upstream=\"default\"}"));
        Assert.Equal(20, Value(b,
            "api_requests_total{method=\"POST\",endpoint=\"/v1/chat/completions\",status=\"200\",model=\"gpt-4.1\",client=\"beta\",upstream=\"default\"}"));
        Assert.Equal(
            records.Sum(r => r.GetInt64("InputTokens") ?? 0),
            Value(a, "api_tokens_total{token_type=\"input\",model=\"gpt-4.1\",client=\"alpha\"}")
                + Value(a, "api_tokens_total{token_type=\"input\",model=\"gpt-4.1\",client=\"beta\"}"));
        Assert.Equal(25, Value(a, "api_time_to_first_byte_seconds_count{model=\"gpt-4.1\"}"));
    }

    [Fact]
    public async Task AfterFoldAndRestart_CountersAreNotLowerAndEqualTheRecords()
    {
        await using var env = await TestEnvironment.StartAsync();
        await DriveAsync(env.Host, 20);
        await env.RecordsAsync(20);
        var before = await ScrapeAsync(env.Host);
        Assert.Equal(20, Value(before, "llm_metering_unfolded_records"));

        // Two minutes later the timer folds: everything moves into the aggregates.
        env.Clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(20, await env.Local.Get<AggregateFolder>().FoldAsync(CancellationToken.None));

        await env.RestartHostAsync();
        var after = await ScrapeAsync(env.Host);
        Assert.Equal(0, Value(after, "llm_metering_unfolded_records"));
        foreach (var series in new[] { "api_requests_by_status{status=\"200\"}", "api_cost_usd_total",
            "api_request_duration_seconds_count{method=\"POST\",endpoint=\"/v1/chat/completions\"}" })
        {
            Assert.Equal(Value(before, series), Value(after, series));
            Assert.True(Value(after, series) > 0, series);
        }

        await DriveAsync(env.Host, 5);
        await env.RecordsAsync(25);
        var later = await ScrapeAsync(env.Host);
        Assert.Equal(25, Value(later, "api_requests_by_status{status=\"200\"}"));
        Assert.Equal(5, Value(later, "llm_metering_unfolded_records"));
    }

    [Fact]
    public async Task Scrape_ReadsAFewRows_WhateverTheNumberOfCallsNotFoldedYet()
    {
        await using var env = await TestEnvironment.StartAsync();
        await ScrapeAsync(env.Host); // the deployment's first scrape creates the folded state
        await DriveAsync(env.Host, 4);
        await env.RecordsAsync(4);
        var few = Value(await ScrapeAsync(env.Host), "llm_metering_scrape_storage_requests");

        using var http = env.Host.CreateHttpClient(ProxyHost.ClientKey);
        await Parallel.ForEachAsync(Enumerable.Range(0, 1_200), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            using var r = await http.PostAsync("/v1/chat/completions",
                new StringContent("""{"model":"gpt-4.1","messages":[]}""", Encoding.UTF8, "application/json"), ct);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        });
        await env.RecordsAsync(1_204);
        var many = await ScrapeAsync(env.Host);

        // 1,204 unfolded records, more than one page of a records query: the scrape read this instance's sums instead.
        Assert.Equal(1_204, Value(many, "llm_metering_unfolded_records"));
        Assert.Equal(1_204, Value(many, "api_requests_by_status{status=\"200\"}"));
        // The state and the tail rows, after a flush of this instance's sums for one minute or two (none if its loop just did).
        Assert.InRange(few, 2, 4);
        Assert.InRange(Value(many, "llm_metering_scrape_storage_requests"), 2, 4);
    }

    [Fact]
    public async Task TheTailAndTheFold_RenderTheSameExposition_EvenPastTheModelCap()
    {
        await using var env = await TestEnvironment.StartAsync(s => s["Metrics:MaxModels"] = "2");
        using var http = env.Host.CreateHttpClient(ProxyHost.ClientKey);
        foreach (var (model, i) in new[] { "gpt-4.1-mini", "gpt-4.1", "deepseek-chat", "gpt-4.1" }
            .SelectMany(m => Enumerable.Repeat(m, 3)).Select((m, i) => (m, i)))
        {
            var stream = i % 2 == 0 ? "true" : "false";
            using var r = await http.PostAsync("/v1/chat/completions",
                new StringContent($$"""{"model":"{{model}}","stream":{{stream}},"messages":[]}""", Encoding.UTF8, "application/json"));
            await r.Content.ReadAsStringAsync();
        }

        await env.RecordsAsync(12);
        var fromTail = await ScrapeAsync(env.Host);
        Assert.Equal(12, Value(fromTail, "llm_metering_unfolded_records"));

        env.Clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(12, await env.Local.Get<AggregateFolder>().FoldAsync(CancellationToken.None));
        var fromFold = await ScrapeAsync(env.Host);
        Assert.Equal(0, Value(fromFold, "llm_metering_unfolded_records"));

        static string[] Series(string text) => text.Split('\n').Where(l => l.Length > 0 && !l.Contains("llm_metering_", StringComparison.Ordinal)).ToArray();
        Assert.Equal(Series(fromTail), Series(fromFold));
        Assert.Contains(
            "api_requests_total{method=\"POST\",endpoint=\"/v1/chat/completions\",status=\"200\",model=\"other\",client=\"alpha\",upstream=\"default\"} 3",
            fromFold);
    }

    [Fact]
    public async Task ConcurrentFolds_NeverDoubleCount()
    {
        await using var env = await TestEnvironment.StartAsync();
        var records = 0;
        for (var round = 1; round <= 3; round++)
        {
            await DriveAsync(env.Host, 10);
            records += 10;
            await env.RecordsAsync(records);
            env.Clock.Advance(TimeSpan.FromMinutes(2));
            var folders = Enumerable.Range(0, 4).Select(_ => Folder(env, foldLagSeconds: 10, new Core.StorageOptions())).ToList();

            var folded = await Task.WhenAll(folders.Select(f => f.FoldAsync(CancellationToken.None)));

            Assert.Equal(10, folded.Sum());
            var (state, _) = await env.Local.Get<AggregateReader>().LoadAsync(CancellationToken.None);
            Assert.Equal(records, state!.FoldedRecords);
            Assert.Equal(records, state.Counters.Where(c => c.Key.StartsWith("requests|", StringComparison.Ordinal)).Sum(c => c.Value));
        }

        var scrape = await ScrapeAsync(env.Host);
        Assert.Equal(30, Value(scrape, "api_requests_by_status{status=\"200\"}"));
    }

    [Fact]
    public async Task RecordsOfDifferentDays_LandInDailyTables_AndEveryCounterSpansThem()
    {
        await using var env = await TestEnvironment.StartAsync();
        // Each day's records are in before the clock moves on (the writer commits after the response is complete).
        env.Clock.AdvanceToNextNoonUtc();
        await DriveAsync(env.Host, 4);
        await env.RecordsAsync(4);
        env.Clock.Advance(TimeSpan.FromDays(1));
        await DriveAsync(env.Host, 4);
        await env.RecordsAsync(8);
        env.Clock.Advance(TimeSpan.FromDays(5));
        await DriveAsync(env.Host, 4);
        await env.RecordsAsync(12);

        var tables = await env.Azurite.CallTablesAsync();
        Assert.Equal(3, tables.Count);
        Assert.All(tables, t => Assert.Matches("^LlmCalls[0-9]{8}$", t));

        // Nothing folded yet: the first scrape folds across all three days (a 6-day span, listed rather than probed),
        // and the tail is today's minute.
        var first = await ScrapeAsync(env.Host);
        Assert.Equal(12, Value(first, "api_requests_by_status{status=\"200\"}"));
        Assert.Equal(4, Value(first, "llm_metering_unfolded_records"));

        // Two minutes later the timer folds the rest (a scrape would start that fold too, off its own path).
        env.Clock.Advance(TimeSpan.FromMinutes(2));
        await env.Local.Get<AggregateFolder>().FoldAsync(CancellationToken.None);
        var folded = await ScrapeAsync(env.Host);
        Assert.Equal(12, Value(folded, "api_requests_by_status{status=\"200\"}"));
        Assert.Equal(0, Value(folded, "llm_metering_unfolded_records"));
        Assert.Equal((await SumRecordsAsync(env.Azurite)).CostNano / 1e9, Value(folded, "api_cost_usd_total"), 9);
    }

    [Fact]
    public async Task AroundMidnight_AnInstanceWhoseClockRunsAhead_IsCountedByEveryScrape()
    {
        // Instance A is at 23:50 UTC; instance B's clock is 15 minutes ahead, so it already writes into tomorrow's table.
        await using var env = await TestEnvironment.StartAsync();
        env.Clock.AdvanceToNextNoonUtc();
        env.Clock.Advance(TimeSpan.FromHours(12) - TimeSpan.FromMinutes(10));
        var ahead = new TestClock();
        ahead.Advance(env.Clock.GetUtcNow() - ahead.GetUtcNow() + TimeSpan.FromMinutes(15));
        await using var b = await ProxyHost.StartAsync(env.Settings, s => s.AddSingleton<TimeProvider>(ahead));

        await DriveAsync(env.Host, 3);
        await DriveAsync(b, 4);
        await env.RecordsAsync(7);
        Assert.Equal(2, (await env.Azurite.CallTablesAsync()).Count);

        foreach (var host in new[] { env.Host, b })
        {
            await ScrapeUntilAsync(host, "api_requests_by_status{status=\"200\"}", 7);
        }
    }

    [Fact]
    public async Task Retention_DropsOnlyFoldedDaysOlderThanItsLimit_AndCountersKeepThem()
    {
        await using var env = await TestEnvironment.StartAsync(s => s["Storage:RetentionDays"] = "1");
        env.Clock.AdvanceToNextNoonUtc();
        await DriveAsync(env.Host, 4);                 // day 0
        await env.RecordsAsync(4);
        env.Clock.Advance(TimeSpan.FromDays(2));
        await DriveAsync(env.Host, 4);                 // day 2
        await env.RecordsAsync(8);
        env.Clock.Advance(TimeSpan.FromDays(3));
        await DriveAsync(env.Host, 4);                 // day 5, today
        await env.RecordsAsync(12);
        var days = await env.Azurite.CallTablesAsync();
        Assert.Equal(3, days.Count);

        // A folder four days behind (as if the fold had stalled) has folded day 0 but not day 2: day 2 is older
        // than the limit, yet its records are not in the state, so only day 0 may go.
        var behind = Folder(env, foldLagSeconds: 4 * 86_400, new Core.StorageOptions { RetentionDays = 1 });
        Assert.Equal(4, await behind.FoldAsync(CancellationToken.None));
        Assert.Equal(days.Skip(1), (await env.Azurite.CallTablesAsync()).Where(t => string.CompareOrdinal(t, days[2]) <= 0));

        // Caught up, day 2 goes too; tomorrow's table was created ahead of the first write after midnight.
        env.Clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(8, await env.Local.Get<AggregateFolder>().FoldAsync(CancellationToken.None));
        var left = await env.Azurite.CallTablesAsync();
        Assert.Equal([days[2], NextDay(days[2])], left);
        var scrape = await ScrapeAsync(env.Host);
        Assert.Equal(12, Value(scrape, "api_requests_by_status{status=\"200\"}"));
        Assert.Equal(4, (await SumRecordsAsync(env.Azurite)).Calls);
    }

    /// <summary>A folder of its own on the host's storage, as another instance would run it.</summary>
    private static AggregateFolder Folder(TestEnvironment env, int foldLagSeconds, Core.StorageOptions storage)
    {
        var store = env.Local.Get<Core.Records.TableStore>();
        var tail = env.Local.Get<TailSummaries>();
        var days = env.Local.Get<Core.Aggregation.DayRows>();
        var housekeeping = new TableHousekeeping(store, tail, days, env.Clock, Microsoft.Extensions.Options.Options.Create(storage),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<TableHousekeeping>.Instance);
        return new AggregateFolder(store, housekeeping, env.Clock,
            Microsoft.Extensions.Options.Options.Create(new Core.MetricsOptions { FoldLagSeconds = foldLagSeconds }), Core.Aggregation.SpendKeyLimit.Default,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<AggregateFolder>.Instance);
    }

    private static string NextDay(string table) =>
        "LlmCalls" + DateOnly.ParseExact(table["LlmCalls".Length..], "yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture).AddDays(1)
            .ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task Scrape_PassesPromtoolCheckMetrics_ExceptTheUsersLegacyCounterName()
    {
        await using var env = await TestEnvironment.StartAsync();
        await DriveAsync(env.Host, 4);
        await env.RecordsAsync(4);
        var text = await ScrapeAsync(env.Host);

        var (code, output) = await RunWithInputAsync(Repo.Promtool, ["check", "metrics"], text);

        // The one complaint allowed: the brief's api_requests_by_status, a counter without _total, kept on purpose.
        var complaints = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !l.Contains("api_requests_by_status", StringComparison.Ordinal)).ToList();
        Assert.True(complaints.Count == 0, string.Join('\n', complaints));
        Assert.Contains("api_requests_by_status", output);
        Assert.Equal(3, code); // promtool: 3 = lint problems found (only the one above)
    }

    private static async Task<(int, string)> RunWithInputAsync(string file, string[] args, string input)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = System.Diagnostics.Process.Start(psi)!;
        await p.StandardInput.WriteAsync(input);
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return (p.ExitCode, await stdout + await stderr);
    }
}
