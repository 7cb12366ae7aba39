using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

namespace LlmFunctions.Benchmarks.Probe;

/// <summary>
/// <c>sustained</c>: holds a steady rate of non-streaming chat calls (open loop; <c>--rate 0</c> is as fast as 32
/// connections go) for <c>--seconds</c> while one scraper GETs <c>/metrics</c> every second, then prints one line:
/// <c>SUSTAINED rate=… achieved=… calls=… non2xx=… scrapes=… scrape_p50_ms=… scrape_p99_ms=… scrape_max_ms=…
/// scrape_requests_max=… storage_per_call=…</c>: the most storage requests one scrape made
/// (<c>llm_metering_scrape_storage_requests</c>), and the host's storage requests over the run (from <c>/health</c>,
/// every request it sent: records, tail sums, folds, scrapes, rollups) per call.
/// Bounded: at most 2,000 calls in flight, and it stops waiting for them 30 s after the run.
/// </summary>
internal static class SustainedLoadProbe
{
    private const int MaxInFlight = 2_000;
    private const string Body = """{"model":"gpt-4.1","messages":[{"role":"user","content":"Say hello in one short sentence."}]}""";

    public static async Task<int> RunAsync(string[] args)
    {
        var options = new Options(args);
        var url = options.Required("url").TrimEnd('/');
        var rate = options.Int("rate", 10);
        var seconds = options.Int("seconds", 60);
        using var calls = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = rate == 0 ? 32 : int.MaxValue })
        {
            Timeout = TimeSpan.FromSeconds(60)
        };
        calls.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.Required("key"));
        using var scraper = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        scraper.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.Required("scrape-token"));

        var storageBefore = await StorageRequestsAsync(scraper, url);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var scrapes = ScrapeEverySecondAsync(scraper, url + "/metrics", stop.Token);
        var (sent, failed) = rate == 0 ? await ClosedLoopAsync(calls, url, 32, stop.Token) : await OpenLoopAsync(calls, url, rate, stop.Token);
        var (latencies, scrapeRequestsMax) = await scrapes;
        var storagePerCall = (await StorageRequestsAsync(scraper, url) - storageBefore) / (double)Math.Max(1, sent);

        latencies.Sort();
        double Percentile(double p) => latencies.Count == 0 ? double.NaN : latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(p * latencies.Count) - 1)];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"SUSTAINED rate={(rate == 0 ? "max" : rate.ToString(CultureInfo.InvariantCulture))} achieved={sent / (double)seconds:0} calls={sent} "
            + $"non2xx={failed} scrapes={latencies.Count} scrape_p50_ms={Percentile(0.5):0} scrape_p99_ms={Percentile(0.99):0} "
            + $"scrape_max_ms={(latencies.Count == 0 ? double.NaN : latencies[^1]):0} scrape_requests_max={scrapeRequestsMax:0} "
            + $"storage_per_call={storagePerCall:0.000}"));
        return 0;
    }

    /// <summary>The host's storage requests since it started, reads plus writes, from <c>/health</c>.</summary>
    private static async Task<long> StorageRequestsAsync(HttpClient http, string url)
    {
        using var health = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(url + "/health"));
        return health.RootElement.GetProperty("storageReads").GetInt64() + health.RootElement.GetProperty("storageWrites").GetInt64();
    }

    private static async Task<(List<double> Latencies, double RequestsMax)> ScrapeEverySecondAsync(HttpClient http, string url, CancellationToken stop)
    {
        var latencies = new List<double>();
        var requestsMax = 0d;
        while (!stop.IsCancellationRequested)
        {
            var started = Stopwatch.StartNew();
            using (var response = await http.GetAsync(url, CancellationToken.None))
            {
                var text = await response.Content.ReadAsStringAsync(CancellationToken.None);
                if (response.IsSuccessStatusCode)
                {
                    latencies.Add(started.Elapsed.TotalMilliseconds);
                    const string Gauge = "llm_metering_scrape_storage_requests ";
                    var at = text.IndexOf("\n" + Gauge, StringComparison.Ordinal);
                    if (at >= 0 && double.TryParse(text.AsSpan(at + 1 + Gauge.Length, text.IndexOf('\n', at + 1) - at - 1 - Gauge.Length),
                        CultureInfo.InvariantCulture, out var n))
                    {
                        requestsMax = Math.Max(requestsMax, n);
                    }
                }
            }

            var wait = TimeSpan.FromSeconds(1) - started.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, CancellationToken.None);
            }
        }

        return (latencies, requestsMax);
    }

    private static async Task<(long Sent, long Failed)> OpenLoopAsync(HttpClient http, string url, int rate, CancellationToken stop)
    {
        long sent = 0, failed = 0;
        var inFlight = new SemaphoreSlim(MaxInFlight);
        var pending = new List<Task>();
        var clock = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested)
        {
            // The n-th call leaves at n / rate seconds, however late the previous ones were.
            var due = TimeSpan.FromSeconds(sent / (double)rate) - clock.Elapsed;
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due, CancellationToken.None);
            }

            if (!await inFlight.WaitAsync(0, CancellationToken.None))
            {
                Interlocked.Increment(ref failed); // more than MaxInFlight waiting: the target cannot keep this rate
                sent++;
                continue;
            }

            sent++;
            pending.Add(CallAsync(http, url).ContinueWith(t =>
            {
                inFlight.Release();
                if (!t.Result)
                {
                    Interlocked.Increment(ref failed);
                }
            }, TaskScheduler.Default));
        }

        await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return (sent, Interlocked.Read(ref failed));
    }

    private static async Task<(long Sent, long Failed)> ClosedLoopAsync(HttpClient http, string url, int connections, CancellationToken stop)
    {
        long sent = 0, failed = 0;
        await Task.WhenAll(Enumerable.Range(0, connections).Select(async _ =>
        {
            while (!stop.IsCancellationRequested)
            {
                Interlocked.Increment(ref sent);
                if (!await CallAsync(http, url))
                {
                    Interlocked.Increment(ref failed);
                }
            }
        }));
        return (sent, failed);
    }

    private static async Task<bool> CallAsync(HttpClient http, string url)
    {
        try
        {
            using var response = await http.PostAsync(url + "/v1/chat/completions", new StringContent(Body, Encoding.UTF8, "application/json"));
            await response.Content.ReadAsByteArrayAsync();
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }
}
