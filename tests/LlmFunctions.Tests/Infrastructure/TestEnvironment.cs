using Microsoft.Extensions.DependencyInjection;
using Azure.Data.Tables;
using LlmFunctions.FakeUpstream;
using OpenAI;
using System.ClientModel;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>
/// Azurite + the fake upstream + a host (the local host, or the real Functions worker under the host emulator):
/// the whole product on loopback, for one test.
/// </summary>
internal sealed class TestEnvironment : IAsyncDisposable
{
    private TestEnvironment(Azurite azurite, FakeOpenAI upstream, ITestHost host, Dictionary<string, string?> settings, TestClock clock)
    {
        Clock = clock;
        Azurite = azurite;
        Upstream = upstream;
        Host = host;
        Settings = settings;
    }

    public Azurite Azurite { get; }

    /// <summary>The clock of every local host this environment starts; a Functions worker runs on the system clock.</summary>
    public TestClock Clock { get; }

    public FakeOpenAI Upstream { get; }

    public ITestHost Host { get; private set; }

    /// <summary>The host as the local host, for tests that reach into its services (they run on the local host only).</summary>
    public ProxyHost Local => Host as ProxyHost ?? throw new InvalidOperationException("This test reaches into the local host's services.");

    public Dictionary<string, string?> Settings { get; }

    public static async Task<TestEnvironment> StartAsync(
        Action<Dictionary<string, string?>>? configure = null, Azurite? sharedAzurite = null, HostKind kind = HostKind.Local)
    {
        var azurite = sharedAzurite ?? await Azurite.SharedAccountAsync();
        var upstream = new FakeOpenAI();
        var upstreamUrl = await upstream.StartAsync();
        var settings = ProxyHost.DefaultSettings(upstreamUrl, azurite.ConnectionString);
        configure?.Invoke(settings);
        var clock = new TestClock();
        return new TestEnvironment(azurite, upstream, await StartHostAsync(kind, settings, clock), settings, clock);
    }

    /// <summary>The official OpenAI .NET SDK pointed at the proxy.</summary>
    public OpenAIClient OpenAI(string key = ProxyHost.ClientKey, int maxRetries = 0) => OpenAIFor(Host, key, maxRetries);

    /// <summary>The official OpenAI .NET SDK pointed at <paramref name="host"/>.</summary>
    public static OpenAIClient OpenAIFor(ITestHost host, string key = ProxyHost.ClientKey, int maxRetries = 0) =>
        new(new ApiKeyCredential(key), new OpenAIClientOptions
        {
            Endpoint = host.OpenAIBase,
            RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(maxRetries),
            NetworkTimeout = TimeSpan.FromSeconds(60),
        });

    /// <summary>
    /// Waits until <paramref name="count"/> records exist (records are written right after the response), then until
    /// the host is idle (no call in flight, no record pending, nothing spooled), so a straggler, an extra (duplicate)
    /// record, is in what it returns.
    /// </summary>
    public async Task<List<TableEntity>> RecordsAsync(int count, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        List<TableEntity> all;
        do
        {
            all = await Azurite.AllCallsAsync();
            if (all.Count >= count)
            {
                await WaitUntilIdleAsync(Host, until);
                return await Azurite.AllCallsAsync();
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < until);

        return all;
    }

    /// <summary>Polls <c>/health</c> until the host has no call in flight, no record pending and no spool backlog (or <paramref name="until"/>).</summary>
    public static async Task WaitUntilIdleAsync(ITestHost host, DateTime until)
    {
        using var http = host.CreateHttpClient(key: null);
        do
        {
            HttpResponseMessage response;
            try
            {
                response = await http.GetAsync("/health");
            }
            catch (HttpRequestException)
            {
                return; // stopped (a test that stopped it to drain it): nothing can be in flight
            }

            using var _ = response;
            var health = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            if ((int)health["callsInFlight"]! == 0 && (long)health["recordsPending"]! == 0 && (int)health["spoolBacklog"]! == 0)
            {
                return;
            }

            await Task.Delay(20);
        }
        while (DateTime.UtcNow < until);
    }

    /// <summary>Polls <c>/health</c> until the host has at least <paramref name="count"/> calls in flight; fails after <paramref name="timeout"/>.</summary>
    public static async Task WaitForCallsInFlightAsync(ITestHost host, int count, TimeSpan timeout)
    {
        using var http = host.CreateHttpClient(key: null);
        await WaitForHealthAsync(http, h => (int)h["callsInFlight"]! >= count, $"{count} calls in flight", timeout);
    }

    /// <summary>Polls <paramref name="http"/>'s <c>/health</c> until <paramref name="condition"/> holds for its body; fails after
    /// <paramref name="timeout"/>, naming <paramref name="what"/>.</summary>
    public static async Task WaitForHealthAsync(HttpClient http, Func<System.Text.Json.Nodes.JsonNode, bool> condition, string what, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            using var response = await http.GetAsync("/health"); // 503 while storage is down, with the same body
            if (condition(System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < until, $"not within {timeout.TotalSeconds} s: {what}");
            await Task.Delay(20);
        }
    }

    public async Task<TableEntity> SingleRecordAsync()
    {
        var records = await RecordsAsync(1);
        Assert.Single(records);
        return records[0];
    }

    public async Task RestartHostAsync(Action<Dictionary<string, string?>>? configure = null)
    {
        var kind = Host.Kind;
        await Host.DisposeAsync();
        configure?.Invoke(Settings);
        Host = await StartHostAsync(kind, Settings, Clock);
    }

    /// <summary>A host of <paramref name="kind"/>; the local one runs on <paramref name="clock"/>, a worker on the system clock.</summary>
    private static async Task<ITestHost> StartHostAsync(HostKind kind, Dictionary<string, string?> settings, TestClock clock) =>
        kind == HostKind.Functions
            ? await FunctionsWorkerHost.StartAsync(settings)
            : await ProxyHost.StartAsync(settings, s => s.AddSingleton<TimeProvider>(clock));

    /// <summary>Another host on the same storage, upstream and clock (a scaled-out instance).</summary>
    public Task<ProxyHost> StartHostAsync(string environment = "Production") =>
        ProxyHost.StartAsync(Settings, s => s.AddSingleton<TimeProvider>(Clock), environment);

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Upstream.DisposeAsync();
        await Azurite.DisposeAsync();
    }
}
