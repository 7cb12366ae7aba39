using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace LlmFunctions.Benchmarks.Probe;

/// <summary>
/// Many streams open at once: N streaming chat completions started together, each on its own connection, each read
/// to its end. The caller makes the upstream pace its chunks (for the fake, <c>x-fake-scenario: chunk-delay-ms=250</c>)
/// so that every stream stays open for seconds; the probe counts how many were open at the same moment at most (first
/// byte read, end not yet), so that a peak RSS read around it is that of N open streams. A stream counts as ok when it
/// answered 200 and ended with <c>data: [DONE]</c>. Bounded by <c>--seconds</c> in all.
/// Prints <c>STREAMS ok failed max_open seconds</c>.
/// </summary>
internal static class OpenStreamsProbe
{
    private static readonly byte[] Done = "data: [DONE]"u8.ToArray();

    public static async Task<int> RunAsync(string[] args)
    {
        var options = new Options(args);
        var url = new Uri(options.Required("url"));
        var count = options.Int("count", 1000);
        var chat = new StreamingChatRequest(url, options);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(options.Int("seconds", 60)));

        using var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = int.MaxValue,
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        using var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        var open = 0;
        var maxOpen = 0;
        var started = Stopwatch.GetTimestamp();

        async Task<bool> OneAsync()
        {
            try
            {
                using var request = chat.Create();

                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
                await using var stream = await response.Content.ReadAsStreamAsync(deadline.Token);
                var buffer = new byte[4096];
                var tail = new List<byte>(64);
                var read = await stream.ReadAsync(buffer, deadline.Token);
                if (read == 0)
                {
                    return false;
                }

                var now = Interlocked.Increment(ref open);
                for (var seen = Volatile.Read(ref maxOpen); now > seen; seen = Volatile.Read(ref maxOpen))
                {
                    if (Interlocked.CompareExchange(ref maxOpen, now, seen) == seen)
                    {
                        break;
                    }
                }

                try
                {
                    do
                    {
                        // Keep only the last bytes: the end marker is all that is checked.
                        tail.AddRange(buffer.AsSpan(0, read));
                        if (tail.Count > 32)
                        {
                            tail.RemoveRange(0, tail.Count - 32);
                        }
                    }
                    while ((read = await stream.ReadAsync(buffer, deadline.Token)) > 0);
                }
                finally
                {
                    Interlocked.Decrement(ref open);
                }

                return response.StatusCode == HttpStatusCode.OK && tail.ToArray().AsSpan().IndexOf(Done) >= 0;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
            {
                return false;
            }
        }

        var results = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => Task.Run(OneAsync)));
        var ok = results.Count(r => r);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"STREAMS {ok} {count - ok} {maxOpen} {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0}"));
        return ok == count ? 0 : 1;
    }
}
