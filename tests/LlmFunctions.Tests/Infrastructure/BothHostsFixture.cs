using Azure.Data.Tables;
using LlmFunctions.FakeUpstream;
using OpenAI;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>
/// One storage account, one fake upstream, and both hosts on them with the same settings: the local host
/// in-process and the real Functions worker under the emulator (one worker for the whole test class).
/// </summary>
public class BothHostsFixture : IAsyncLifetime
{
    private ProxyHost? _local;
    private FunctionsWorkerHost? _functions;

    internal Azurite Azurite { get; private set; } = null!;

    internal FakeOpenAI Upstream { get; } = new();

    internal Dictionary<string, string?> Settings { get; private set; } = [];

    internal ITestHost Host(HostKind kind) => kind == HostKind.Local ? _local! : _functions!;

    internal OpenAIClient OpenAI(HostKind kind, string key = ProxyHost.ClientKey) => TestEnvironment.OpenAIFor(Host(kind), key);

    /// <summary>The record of one call, by the call id the proxy answered with.</summary>
    internal Task<TableEntity> RecordAsync(string callId) => RecordWhereAsync(r => r.RowKey == callId, $"call {callId}");

    /// <summary>The first record that matches, once there is one (the local host writes it after the answer); 15 s at most.</summary>
    internal async Task<TableEntity> RecordWhereAsync(Func<TableEntity, bool> match, string what)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            var record = (await Azurite.AllCallsAsync()).FirstOrDefault(match);
            if (record is not null || DateTime.UtcNow > until)
            {
                return record ?? throw new Xunit.Sdk.XunitException($"No record for {what}.");
            }

            await Task.Delay(50);
        }
    }

    public async Task InitializeAsync()
    {
        Azurite = await Azurite.SharedAccountAsync();
        Settings = ProxyHost.DefaultSettings(await Upstream.StartAsync(), Azurite.ConnectionString);
        Settings["Upstream:TimeoutSeconds"] = "2";
        Configure(Settings);
        _local = await ProxyHost.StartAsync(Settings);
        _functions = await FunctionsWorkerHost.StartAsync(Settings);
    }

    /// <summary>Settings of a derived fixture, on top of the shared ones.</summary>
    protected virtual void Configure(Dictionary<string, string?> settings)
    {
    }

    public async Task DisposeAsync()
    {
        if (_functions is not null)
        {
            await _functions.DisposeAsync();
        }

        if (_local is not null)
        {
            await _local.DisposeAsync();
        }

        await Upstream.DisposeAsync();
        await Azurite.DisposeAsync();
    }
}
