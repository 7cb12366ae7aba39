using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace LlmFunctions.Benchmarks.Probe;

/// <summary>
/// <c>storage-proxy</c>: Table Storage a network hop away, in front of Azurite on loopback. Every request waits
/// <c>--delay-ms</c> (half each way, a round trip); <c>--busy-pct</c> of them are answered 503 <c>ServerBusy</c> without
/// reaching Azurite and <c>--timeout-pct</c> of the writes 500 <c>OperationTimedOut</c> after Azurite committed them, as
/// Table Storage under partition pressure does. Binds 127.0.0.1, stops by itself after <c>--seconds</c>, prints its counts.
/// </summary>
internal static class StorageProxy
{
    private static readonly HashSet<string> Hop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Upgrade", "TE", "Trailer", "Proxy-Connection",
    };

    public static async Task<int> RunAsync(string[] args)
    {
        var o = new Options(args);
        var port = o.Int("port", 0);
        var to = new Uri(o.Required("to"));
        var halfDelay = TimeSpan.FromMilliseconds(o.Int("delay-ms", 0) / 2.0);
        var busy = o.Int("busy-pct", 0) / 100.0;
        var timeout = o.Int("timeout-pct", 0) / 100.0;
        var random = new Random(o.Int("seed", 20261206));
        long requests = 0, busyAnswers = 0, timeoutAnswers = 0;

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        await using var app = builder.Build();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, UseCookies = false, AllowAutoRedirect = false })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };

        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (Exception ex)
            {
                Console.Error.WriteLine($"storage-proxy: {context.Request.Method} {context.Request.Path}: {ex.GetType().Name}: {ex.Message}");
                throw;
            }
        });
        app.Run(async context =>
        {
            Interlocked.Increment(ref requests);
            double roll;
            lock (random)
            {
                roll = random.NextDouble();
            }

            // The whole request first, as the service reads it: answering before the body is read resets the connection.
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            await Delay(halfDelay);
            var write = !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method);
            if (roll < busy)
            {
                Interlocked.Increment(ref busyAnswers);
                await Delay(halfDelay);
                await FailAsync(context, 503, "ServerBusy", "The server is busy.");
                return;
            }

            using var forward = new HttpRequestMessage(new HttpMethod(context.Request.Method),
                new Uri(to, context.Request.Path.Value + context.Request.QueryString.Value));
            if (body.Length > 0 || write)
            {
                forward.Content = new ByteArrayContent(body.ToArray());
            }

            foreach (var header in context.Request.Headers)
            {
                if (!Hop.Contains(header.Key) && !forward.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string?>)header.Value))
                {
                    forward.Content?.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string?>)header.Value);
                }
            }

            using var answer = await http.SendAsync(forward);
            var bytes = await answer.Content.ReadAsByteArrayAsync();
            await Delay(halfDelay);
            if (write && roll < busy + timeout)
            {
                // Committed upstream, reported as a timeout: the writer must not duplicate or lose the record.
                Interlocked.Increment(ref timeoutAnswers);
                await FailAsync(context, 500, "OperationTimedOut", "Operation could not be completed within the specified time.");
                return;
            }

            context.Response.StatusCode = (int)answer.StatusCode;
            foreach (var header in answer.Headers.Concat(answer.Content.Headers))
            {
                if (!Hop.Contains(header.Key))
                {
                    context.Response.Headers[header.Key] = header.Value.ToArray();
                }
            }

            if (context.Response.StatusCode is not (204 or 304))
            {
                context.Response.ContentLength = bytes.Length;
                await context.Response.Body.WriteAsync(bytes);
            }
        });

        await app.StartAsync();
        Console.Error.WriteLine($"storage-proxy on {app.Urls.First()} -> {to} (delay {halfDelay.TotalMilliseconds * 2} ms, busy {busy:P0}, timeout {timeout:P0})");
        // Until its time is up or it is told to stop (SIGTERM from the script): a bare delay kept it alive for the full
        // time after the script's kill, and the script waiting for it.
        await Task.Delay(TimeSpan.FromSeconds(o.Int("seconds", 600)), app.Lifetime.ApplicationStopping)
            .ContinueWith(static _ => { }, TaskScheduler.Default);
        await app.StopAsync();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"STORAGE_PROXY requests={requests} busy={busyAnswers} timed_out_after_commit={timeoutAnswers}"));
        return 0;
    }

    private static Task Delay(TimeSpan delay) => delay > TimeSpan.Zero ? Task.Delay(delay) : Task.CompletedTask;

    private static async Task FailAsync(HttpContext context, int status, string code, string message)
    {
        context.Response.StatusCode = status;
        context.Response.Headers["x-ms-error-code"] = code;
        context.Response.ContentType = "application/json;odata=minimalmetadata;streaming=true;charset=utf-8";
        await context.Response.WriteAsync("{\"odata.error\":{\"code\":\"" + code + "\",\"message\":{\"lang\":\"en-US\",\"value\":\"" + message + "\"}}}");
    }
}
