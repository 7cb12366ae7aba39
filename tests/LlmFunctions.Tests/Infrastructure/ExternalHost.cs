using System.Diagnostics;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>The local host as its own process (for signals and peak memory), on a free loopback port.</summary>
internal sealed class ExternalHost : IAsyncDisposable
{
    private ExternalHost(ChildProcess process, int port)
    {
        Child = process;
        Port = port;
    }

    public ChildProcess Child { get; }

    public int Port { get; }

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    public static async Task<ExternalHost> StartAsync(IDictionary<string, string?> settings)
    {
        var port = Ports.Free();
        var env = settings.Where(s => s.Value is not null).ToDictionary(s => s.Key.Replace(":", "__", StringComparison.Ordinal), s => s.Value!);
        env["Logging__LogLevel__Default"] = "Warning";
        env["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        var child = ChildProcess.Start("dotnet",
            [Path.Combine(AppContext.BaseDirectory, "LlmFunctions.Local.dll"), "--urls", $"http://127.0.0.1:{port}"], env, AppContext.BaseDirectory);
        await child.WaitForOutputAsync("Application started", TimeSpan.FromSeconds(60));
        return new ExternalHost(child, port);
    }

    /// <summary>Peak resident memory of the host process (VmHWM), in MB.</summary>
    public double PeakMemoryMb() => Status("VmHWM:");

    /// <summary>Resident memory of the host process now (VmRSS), in MB.</summary>
    public double MemoryMb() => Status("VmRSS:");

    private double Status(string field)
    {
        foreach (var line in File.ReadLines($"/proc/{Child.Process.Id}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
            }
        }

        return 0;
    }

    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, Child.Process.Id.ToString()]);
        kill!.WaitForExit();
    }

    public HttpClient CreateHttpClient(string key = ProxyHost.ClientKey) =>
        new(new SocketsHttpHandler { MaxResponseDrainSize = 0, MaxConnectionsPerServer = int.MaxValue })
        {
            BaseAddress = new Uri(BaseUrl),
            Timeout = TimeSpan.FromSeconds(120),
            DefaultRequestHeaders = { Authorization = new("Bearer", key) },
        };

    public ValueTask DisposeAsync() => Child.DisposeAsync();
}
