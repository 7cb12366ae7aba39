using Azure.Data.Tables;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>A real Azurite Table service on a free loopback port, in memory, for one test or class.</summary>
internal sealed class Azurite : IAsyncDisposable
{
    // Azurite's well-known development account (public, documented; not a secret).
    private const string DevKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private ChildProcess? _process;

    public int Port { get; private set; }

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DevKey};TableEndpoint=http://127.0.0.1:{Port}/devstoreaccount1;";

    public TableServiceClient Service => new(ConnectionString);

    public TableClient Calls => Service.GetTableClient("LlmCalls");

    public static async Task<Azurite> StartAsync(int? port = null)
    {
        var azurite = new Azurite { Port = port ?? Ports.Free() };
        await azurite.StartProcessAsync();
        return azurite;
    }

    /// <summary>Starts (or restarts on the same port) the Azurite process. Data is in memory: a restart loses it, so
    /// fault tests that stop storage use <see cref="PauseAsync"/> instead.</summary>
    private async Task StartProcessAsync()
    {
        _process = ChildProcess.Start(Repo.Azurite,
            ["--inMemoryPersistence", "--tableHost", "127.0.0.1", "--tablePort", Port.ToString(), "--skipApiVersionCheck", "--disableProductStyleUrl", "--loose"]);
        await _process.WaitForOutputAsync("successfully listening", TimeSpan.FromSeconds(30));
    }

    /// <summary>Stops Azurite answering (SIGSTOP) for a while, as an outage that keeps its data.</summary>
    public void Pause() => Signal("STOP");

    public void Resume() => Signal("CONT");

    private void Signal(string signal)
    {
        // azurite-table is a node script started through a shim; signal the whole tree.
        var pid = _process!.Process.Id;
        using var kill = System.Diagnostics.Process.Start("pkill", ["-" + signal, "-P", pid.ToString()]);
        kill!.WaitForExit();
        using var self = System.Diagnostics.Process.Start("kill", ["-" + signal, pid.ToString()]);
        self!.WaitForExit();
    }

    public async Task<List<TableEntity>> AllCallsAsync()
    {
        var result = new List<TableEntity>();
        await foreach (var e in Calls.QueryAsync<TableEntity>())
        {
            result.Add(e);
        }

        return result;
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
    }
}
