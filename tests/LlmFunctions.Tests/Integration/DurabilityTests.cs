using System.Collections.Concurrent;
using System.Net;
using System.Text;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// Issue 26, part 3: an instance killed during a storage outage, its temp folder (the spool) wiped, as Flex Consumption
/// does when it recycles or scales in an instance. The figure: answered calls whose record is lost.
/// </summary>
public sealed class DurabilityTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(HostKind.Functions, null)] // the Functions app's defaults
    [InlineData(HostKind.Local, "false")] // the same choice on the local host
    public async Task AnInstanceKilledAndWipedDuringAStorageOutage_LosesNoAnsweredCall(HostKind kind, string? localDiskIsDurable)
    {
        var run = await KillAndWipeDuringOutageAsync(kind, localDiskIsDurable);

        Assert.True(run.Refused > 0, "no call met the outage: the test did not test it");
        Assert.True(run.AnsweredBefore > 0, "no call was answered before the outage");
        Assert.Empty(run.Lost);
    }

    /// <summary>The local host's default counts the spool as durable: the same run loses the calls answered during the outage.</summary>
    [Fact]
    public async Task WhenLocalDiskCountsAsDurable_TheCallsAnsweredDuringTheOutageAreLostWithTheDisk()
    {
        var run = await KillAndWipeDuringOutageAsync(HostKind.Local, localDiskIsDurable: null);

        Assert.Equal(0, run.Refused);
        Assert.NotEmpty(run.Lost);
    }

    private sealed record Run(int AnsweredBefore, int Refused, List<string> Lost);

    private async Task<Run> KillAndWipeDuringOutageAsync(HostKind kind, string? localDiskIsDurable)
    {
        await using var azurite = await Azurite.StartAsync();
        await using var upstream = new FakeOpenAI();
        var settings = ProxyHost.DefaultSettings(await upstream.StartAsync(), azurite.ConnectionString);
        settings["Storage:LocalDiskIsDurable"] = localDiskIsDurable;
        settings["Upstream:MaxRetries"] = "0";
        var spool = settings["Storage:SpoolDirectory"]!;

        Func<HttpClient> client;
        Action kill;
        IAsyncDisposable host;
        if (kind == HostKind.Functions)
        {
            var functions = await FunctionsWorkerHost.StartAsync(settings);
            (host, client, kill) = (functions, () => functions.CreateHttpClient(), functions.Emulator.KillWorker);
        }
        else
        {
            var local = await ExternalHost.StartAsync(settings);
            (host, client, kill) = (local, () => local.CreateHttpClient(), () => local.Signal("KILL"));
        }

        await using (host)
        {
            using var http = client();
            http.Timeout = TimeSpan.FromSeconds(30);
            var answered = new ConcurrentBag<string>();
            var refused = 0;
            var answeredBefore = 0;
            var outage = false;
            using var stop = new CancellationTokenSource();
            var load = Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
            {
                for (var i = 0; i < 10_000 && !stop.IsCancellationRequested; i++)
                {
                    var stream = (worker + i) % 3 == 0;
                    try
                    {
                        using var response = await http.PostAsync("/v1/chat/completions", Chat(stream), stop.Token);
                        var body = await response.Content.ReadAsStringAsync(stop.Token);
                        var id = response.Headers.GetValues("x-llm-call-id").Single();
                        if (response.StatusCode == HttpStatusCode.OK && (!stream || body.Contains("data: [DONE]", StringComparison.Ordinal)))
                        {
                            answered.Add(id);
                            if (!Volatile.Read(ref outage))
                            {
                                Interlocked.Increment(ref answeredBefore);
                            }
                        }
                        else if (body.Contains("storage_unavailable", StringComparison.Ordinal))
                        {
                            Interlocked.Increment(ref refused);
                            await Task.Delay(20, stop.Token); // as an SDK backs off, if briefly
                        }
                    }
                    catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
                    {
                        // Aborted (a stream whose record was not stored), or the instance is gone: not answered.
                        if (stop.IsCancellationRequested)
                        {
                            return;
                        }
                    }
                }
            })).ToList();

            // Storage goes away once calls are being answered (on a loaded machine a cold worker's first writes can outlast
            // the 3-s storage timeout, which counts as an outage: calls are refused until a write gets through).
            for (var waited = TimeSpan.Zero; answered.Count < 20 && waited < TimeSpan.FromSeconds(60); waited += TimeSpan.FromMilliseconds(100))
            {
                await Task.Delay(100);
            }

            Volatile.Write(ref outage, true);
            azurite.Pause();
            await Task.Delay(TimeSpan.FromSeconds(12));

            // The instance goes away with its temp disk while storage is still down.
            kill();
            await stop.CancelAsync();
            await Task.WhenAll(load);
            if (Directory.Exists(spool))
            {
                Directory.Delete(spool, recursive: true);
            }

            azurite.Resume();
            var stored = (await azurite.AllCallsAsync()).Select(r => r.RowKey).ToHashSet(StringComparer.Ordinal);
            var lost = answered.Where(id => !stored.Contains(id)).ToList();
            output.WriteLine($"{kind}, Storage__LocalDiskIsDurable={localDiskIsDurable ?? "(default)"}: {answered.Count} calls answered "
                + $"({answeredBefore} before storage paused), {refused} refused with storage_unavailable, {stored.Count} records stored, "
                + $"{lost.Count} answered calls lost with the instance's disk");
            return new Run(answeredBefore, refused, lost);
        }
    }

    private static StringContent Chat(bool stream) =>
        new($$"""{"model":"gpt-4.1","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"durability"}]}""",
            Encoding.UTF8, "application/json");
}
