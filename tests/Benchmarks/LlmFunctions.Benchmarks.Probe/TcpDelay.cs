using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace LlmFunctions.Benchmarks.Probe;

/// <summary>
/// <c>tcp-delay</c>: a network hop in front of a loopback server. Every byte is passed on <c>--delay-ms</c>/2 after it
/// arrived, in each direction, so a request and its answer take one round trip more; bytes are never held back by
/// the ones before them beyond that, so concurrent requests overlap as they would on a network. Unlike
/// <c>storage-proxy</c> it does not parse HTTP: no CPU or latency of its own to speak of, and no faults. Binds
/// 127.0.0.1, stops after <c>--seconds</c> or on SIGTERM.
/// </summary>
internal static class TcpDelay
{
    public static async Task<int> RunAsync(string[] args)
    {
        var o = new Options(args);
        var to = new Uri(o.Required("to"));
        var half = TimeSpan.FromMilliseconds(o.Int("delay-ms", 0) / 2.0);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(o.Int("seconds", 600)));
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });
        var listener = new TcpListener(IPAddress.Loopback, o.Int("port", 0));
        listener.Start();
        Console.Error.WriteLine($"tcp-delay on 127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port} -> {to.Host}:{to.Port} (delay {half.TotalMilliseconds * 2} ms)");
        long connections = 0;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var client = await listener.AcceptTcpClientAsync(stop.Token);
                connections++;
                _ = ConnectionAsync(client, to, half, stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            listener.Stop();
        }

        Console.WriteLine($"TCP_DELAY connections={connections}");
        return 0;
    }

    private static async Task ConnectionAsync(TcpClient client, Uri to, TimeSpan half, CancellationToken stop)
    {
        using var _ = client;
        using var server = new TcpClient { NoDelay = true };
        client.NoDelay = true;
        try
        {
            await server.ConnectAsync(to.Host, to.Port, stop);
            await Task.WhenAll(PumpAsync(client.Client, server.Client, half, stop), PumpAsync(server.Client, client.Client, half, stop));
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            // Either side went away: so does the connection.
        }
    }

    /// <summary>Reads from <paramref name="from"/> and writes each chunk to <paramref name="to"/> once it is <paramref name="half"/> old.</summary>
    private static async Task PumpAsync(Socket from, Socket to, TimeSpan half, CancellationToken stop)
    {
        var chunks = Channel.CreateUnbounded<(long Due, byte[] Data)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var sender = Task.Run(async () =>
        {
            await foreach (var (due, data) in chunks.Reader.ReadAllAsync(stop))
            {
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, stop);
                }

                await to.SendAsync(data, SocketFlags.None, stop);
            }

            to.Shutdown(SocketShutdown.Send);
        }, stop);

        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, SocketFlags.None, stop)) > 0)
            {
                chunks.Writer.TryWrite((Stopwatch.GetTimestamp() + (long)(half.TotalSeconds * Stopwatch.Frequency), buffer[..read]));
            }
        }
        finally
        {
            chunks.Writer.TryComplete();
        }

        await sender;
    }
}
