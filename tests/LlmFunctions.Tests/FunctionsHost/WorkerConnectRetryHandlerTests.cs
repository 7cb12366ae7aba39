using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using LlmFunctions.FunctionsHost;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.FunctionsHost;

/// <summary>The forwarding client waits for a worker whose Kestrel is not listening yet, as the host's does.</summary>
public sealed class WorkerConnectRetryHandlerTests
{
    private static async Task ServeOnceAsync(TcpListener listener)
    {
        using var client = await listener.AcceptTcpClientAsync();
        var stream = client.GetStream();
        var buffer = new byte[4096];
        _ = await stream.ReadAsync(buffer);
        await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
    }

    [Fact]
    public async Task WorkerThatStartsListening300MsLate_IsReached()
    {
        var port = Ports.Free();
        using var invoker = new HttpMessageInvoker(new WorkerConnectRetryHandler(new SocketsHttpHandler()));
        var listener = new TcpListener(IPAddress.Loopback, port);
        var server = Task.Run(async () =>
        {
            await Task.Delay(300);
            listener.Start();
            await ServeOnceAsync(listener);
        });

        using var response = await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/"), CancellationToken.None);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        await server;
        listener.Stop();
    }

    [Fact]
    public async Task WorkerThatNeverListens_FailsAfterTheRetries_WithinAFewSeconds()
    {
        var port = Ports.Free();
        using var invoker = new HttpMessageInvoker(new WorkerConnectRetryHandler(new SocketsHttpHandler()));
        var clock = Stopwatch.StartNew();

        await Assert.ThrowsAsync<HttpRequestException>(() =>
            invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/"), CancellationToken.None));

        // The retries wait 50, 100, 200, then 250 ms × 7 (no jitter): 2.1 s in all; a refused connection on loopback costs
        // next to nothing, so the rest of the upper bound is a loaded machine's scheduling (uncapped backoff would take 51 s).
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(2_100), TimeSpan.FromMilliseconds(8_000));
    }
}
