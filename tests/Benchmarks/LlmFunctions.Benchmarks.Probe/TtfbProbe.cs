using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace LlmFunctions.Benchmarks.Probe;

/// <summary>
/// Time to the first streamed byte: N sequential streaming chat completions on one keep-alive connection, each
/// timed from sending the request to the first byte of the response body (headers read first, then the first
/// body read). Bounded by a request count and a wall-clock limit. Prints <c>TTFB p50_ms p99_ms n</c>.
/// </summary>
internal static class TtfbProbe
{
    public static async Task<int> RunAsync(string[] args)
    {
        var options = new Options(args);
        var url = new Uri(options.Required("url"));
        var requests = options.Int("requests", 300);
        var warmup = options.Int("warmup", 30);
        var deadline = Stopwatch.GetTimestamp() + (long)(options.Int("seconds", 30) * (double)Stopwatch.Frequency);
        var chat = new StreamingChatRequest(url, options);

        using var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            MaxConnectionsPerServer = 1,
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        var buffer = new byte[16 * 1024];
        var samples = new List<double>(requests);
        var failures = 0;
        for (var i = 0; i < warmup + requests && Stopwatch.GetTimestamp() < deadline; i++)
        {
            using var request = chat.Create();

            var started = Stopwatch.GetTimestamp();
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await using var stream = await response.Content.ReadAsStreamAsync();
            var read = await stream.ReadAsync(buffer);
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var first = Encoding.UTF8.GetString(buffer, 0, Math.Min(read, 5));
            while (await stream.ReadAsync(buffer) > 0)
            {
            }

            if (response.StatusCode != HttpStatusCode.OK || read == 0 || first != "data:")
            {
                failures++;
                continue;
            }

            if (i >= warmup)
            {
                samples.Add(elapsed);
            }
        }

        if (samples.Count == 0)
        {
            Console.Error.WriteLine($"ttfb: no successful streaming request to {url} ({failures} failed).");
            return 1;
        }

        samples.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"TTFB {Percentile(samples, 0.50):0.000} {Percentile(samples, 0.99):0.000} {samples.Count} {failures}"));
        return 0;
    }

    /// <summary>Nearest-rank percentile of sorted samples.</summary>
    internal static double Percentile(List<double> sorted, double p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
}
