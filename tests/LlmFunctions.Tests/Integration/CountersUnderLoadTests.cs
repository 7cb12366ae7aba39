using System.Text;
using LlmFunctions.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// Counters under sustained load on both hosts. It runs alone (its load would starve other tests' timing, and
/// theirs its scrapes).
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class CountersUnderLoadTests(ITestOutputHelper output)
{
    /// <summary>Every sample of every series whose name ends in <c>_total</c> or <c>_count</c>, by series.</summary>
    private static Dictionary<string, double> Counters(string exposition) => exposition.Split('\n')
        .Where(l => l.Length > 0 && l[0] != '#')
        .Select(l => (Series: l[..l.LastIndexOf(' ')], Value: l[(l.LastIndexOf(' ') + 1)..]))
        .Where(p => p.Series.Split('{')[0] is var name
            && (name.EndsWith("_total", StringComparison.Ordinal) || name.EndsWith("_count", StringComparison.Ordinal) || name == "api_requests_by_status"))
        .ToDictionary(p => p.Series, p => double.Parse(p.Value, System.Globalization.CultureInfo.InvariantCulture));

    [Theory]
    [OnBothHosts]
    public async Task UnderLoadAndRollups_NoCounterEverDecreases_AndTheLastScrapeEqualsTheRecords_AcrossAFoldOnTheLocalHost(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind); // records older than 10 s get folded
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var calls = Enumerable.Range(0, 8).Select(async worker =>
        {
            using var http = env.Host.CreateHttpClient();
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                var stream = (n++ + worker) % 2 == 0 ? "true" : "false";
                using var r = await http.PostAsync("/v1/chat/completions", new StringContent(
                    $$"""{"model":"gpt-4.1","stream":{{stream}},"messages":[{"role":"user","content":"load"}]}""", Encoding.UTF8, "application/json"));
                await r.Content.ReadAsStringAsync();
            }
        }).ToList();

        // Scrape every second while the timer folds records out of the tail into the aggregates now and then.
        var previous = new Dictionary<string, double>();
        var scrapes = 0;
        var folds = 0;
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(1000);
            if (++scrapes % 4 == 0)
            {
                if (kind == HostKind.Local && folds == 0)
                {
                    // The fold moves whole minutes past the lag; on the local host's clock, make one due now.
                    env.Clock.Advance(TimeSpan.FromMinutes(2));
                }

                await env.Host.RunBudgetRollupAsync();
                folds++;
            }

            var now = Counters(await MetricsTests.ScrapeAsync(env.Host));
            foreach (var (series, value) in previous)
            {
                var later = now.TryGetValue(series, out var v) ? v : double.NaN;
                Assert.True(later >= value, $"{series} went from {value} to {later}");
            }

            previous = now;
        }

        await Task.WhenAll(calls);
        await TestEnvironment.WaitUntilIdleAsync(env.Host, DateTime.UtcNow.AddSeconds(15)); // every record written, not a 500-ms guess
        var records = await env.Azurite.AllCallsAsync();
        var last = await MetricsTests.ScrapeAsync(env.Host);
        output.WriteLine($"{kind}: {records.Count} calls, {scrapes} scrapes, {folds} folds");
        Assert.True(records.Count > 100, $"only {records.Count} calls");
        Assert.Equal(records.Count, MetricsTests.Value(last, "api_requests_by_status{status=\"200\"}"));
        var cost = (double)Core.Pricing.CostCalculator.ToUsd(records.Sum(r => r.GetInt64("CostNanoUsd") ?? 0));
        Assert.Equal(cost, MetricsTests.Value(last, "api_cost_usd_total"), 9);
        if (kind == HostKind.Local)
        {
            // On Functions (the system clock) a fold moves records only when the run crosses a minute past the lag.
            Assert.True(MetricsTests.Value(last, "llm_metering_unfolded_records") < records.Count, "no fold happened: the test did not test the fold");
        }
    }
}
