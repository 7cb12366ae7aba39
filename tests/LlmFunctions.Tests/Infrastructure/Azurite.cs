using Azure.Data.Tables;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>A real Azurite Table service on a free loopback port, in memory, for one test or class.</summary>
internal sealed class Azurite : IAsyncDisposable
{
    // Azurite's well-known development account (public, documented; not a secret).
    internal const string DevKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private const int SharedAccounts = 400;
    private static readonly SemaphoreSlim SharedLock = new(1, 1);
    private static Azurite? _shared;
    private static int _nextAccount;

    private ChildProcess? _process;
    private string _account = "devstoreaccount1";
    private int _accounts;

    public int Port { get; private set; }

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={_account};AccountKey={DevKey};TableEndpoint=http://127.0.0.1:{Port}/{_account};";

    /// <summary>
    /// A fresh storage account in one Azurite process shared by the whole test run: each test sees empty tables
    /// without paying for its own Azurite. Disposing it does nothing; the process lives until the run ends.
    /// </summary>
    public static async Task<Azurite> SharedAccountAsync()
    {
        await SharedLock.WaitAsync();
        try
        {
            if (_shared is null)
            {
                _shared = await StartAsync(accounts: SharedAccounts);

                // The shared process outlives every test; end it with the test host, never leave it behind.
                var shared = _shared;
                AppDomain.CurrentDomain.ProcessExit += (_, _) => shared.DisposeCoreAsync().AsTask().Wait(TimeSpan.FromSeconds(10));
            }
        }
        finally
        {
            SharedLock.Release();
        }

        var n = Interlocked.Increment(ref _nextAccount);
        if (n >= SharedAccounts)
        {
            throw new InvalidOperationException("More tests than shared Azurite accounts; raise SharedAccounts.");
        }

        return new Azurite { Port = _shared.Port, _account = "acct" + n, IsLease = true };
    }

    private bool IsLease { get; init; }

    public TableServiceClient Service => new(ConnectionString);


    public static async Task<Azurite> StartAsync(int? port = null, int accounts = 0)
    {
        var azurite = new Azurite { Port = port ?? Ports.Free(), _accounts = accounts };
        await azurite.StartProcessAsync();
        return azurite;
    }

    /// <summary>Starts (or restarts on the same port) the Azurite process. Data is in memory: a restart loses it, so
    /// fault tests that stop storage use <see cref="PauseAsync"/> instead.</summary>
    private async Task StartProcessAsync()
    {
        var env = new Dictionary<string, string>();
        if (_accounts > 0)
        {
            env["AZURITE_ACCOUNTS"] = string.Join(';', Enumerable.Range(0, _accounts).Select(i => $"acct{i}:{DevKey}"));
        }

        _process = ChildProcess.Start(Repo.Azurite,
            ["--inMemoryPersistence", "--tableHost", "127.0.0.1", "--tablePort", Port.ToString(),
                "--skipApiVersionCheck", "--disableProductStyleUrl", "--loose", "--disableTelemetry"], env, endsWithTheTests: true);
        await _process.WaitForOutputAsync("successfully started", TimeSpan.FromSeconds(30));
    }

    /// <summary>Stops Azurite answering (SIGSTOP) for a while, as an outage that keeps its data.</summary>
    public void Pause() => Signal("STOP");

    public void Resume() => Signal("CONT");

    private void Signal(string signal)
    {
        // Azurite is the node process under the shell that ends it with the tests; only it (and any child of its own) is
        // signalled: the shell's watcher must never be stopped, or a run that ends while storage is paused leaves it behind.
        using var find = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("pgrep", ["-P", _process!.Process.Id.ToString(), "-x", "node"])
        {
            RedirectStandardOutput = true,
        })!;
        var nodes = find.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        find.WaitForExit();
        Assert.NotEmpty(nodes);
        foreach (var node in nodes)
        {
            using var children = System.Diagnostics.Process.Start("pkill", ["-" + signal, "-P", node]);
            children!.WaitForExit();
            using var self = System.Diagnostics.Process.Start("kill", ["-" + signal, node]);
            self!.WaitForExit();
        }
    }

    public async Task<List<TableEntity>> AllCallsAsync()
    {
        var result = new List<TableEntity>();
        foreach (var table in await CallTablesAsync())
        {
            await foreach (var e in Service.GetTableClient(table).QueryAsync<TableEntity>())
            {
                result.Add(e);
            }
        }

        return result;
    }

    /// <summary>Every table named like a call table (<c>LlmCalls…</c>; the app makes one per UTC day), in name order.</summary>
    public async Task<List<string>> CallTablesAsync()
    {
        var names = new List<string>();
        await foreach (var table in Service.QueryAsync())
        {
            if (table.Name.StartsWith(Core.Records.TableNames.CallsPrefix, StringComparison.Ordinal))
            {
                names.Add(table.Name);
            }
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    public ValueTask DisposeAsync() => IsLease ? ValueTask.CompletedTask : DisposeCoreAsync();

    private async ValueTask DisposeCoreAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
    }
}
