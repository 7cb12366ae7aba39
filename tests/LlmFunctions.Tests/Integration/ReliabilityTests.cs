using System.Net;
using System.Text;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LlmFunctions.Tests.Integration;

/// <summary>Faults of storage and of the host itself, and load: no bill lost, none doubled.</summary>
public sealed class ReliabilityTests(ITestOutputHelper output)
{
    private static StringContent Chat(bool stream) =>
        new($$"""{"model":"gpt-4.1","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"reliability"}]}""",
            Encoding.UTF8, "application/json");

    [Theory]
    [OnBothHosts]
    public async Task AzuriteStoppedForTenSecondsDuringAThousandCalls_LosesAndDuplicatesNothing(HostKind kind)
    {
        await using var azurite = await Azurite.StartAsync();

        // The spool path, which the Functions app takes only when its disk outlives it (DurabilityTests has its default).
        await using var env = await TestEnvironment.StartAsync(s => s["Storage:LocalDiskIsDurable"] = "true", sharedAzurite: azurite, kind: kind);
        using var http = env.Host.CreateHttpClient();
        var ok = 0;
        var slow = 0;
        var started = DateTime.UtcNow;
        var paused = false;

        await Parallel.ForEachAsync(Enumerable.Range(0, 1000), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            if (i == 300 && !paused)
            {
                paused = true;
                azurite.Pause();
                _ = Task.Delay(TimeSpan.FromSeconds(10), CancellationToken.None).ContinueWith(_ => azurite.Resume(), TaskScheduler.Default);
            }

            var call = System.Diagnostics.Stopwatch.StartNew();
            using var response = await http.PostAsync("/v1/chat/completions", Chat(i % 3 == 0), ct);
            await response.Content.ReadAsStringAsync(ct);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                Interlocked.Increment(ref ok);
            }

            if (call.Elapsed > TimeSpan.FromSeconds(3))
            {
                Interlocked.Increment(ref slow);
            }
        });

        Assert.Equal(1000, ok);

        // Only the batch that found storage gone waits out the timeouts (at most one call per client connection);
        // the writer spools the batches after it at once instead of making each wait again.
        Assert.InRange(slow, 1, 16);
        var records = await env.RecordsAsync(1000, TimeSpan.FromSeconds(90));
        output.WriteLine($"{kind}: 1000 calls in {(DateTime.UtcNow - started).TotalSeconds:0.0} s with storage paused 10 s; "
            + $"{slow} took > 3 s; records {records.Count}");
        Assert.Equal(1000, records.Count);
        Assert.Equal(1000, records.Select(r => r.RowKey).Distinct().Count());
        Assert.True(env.Host.Log.Contains("records to local disk", StringComparison.Ordinal), "the outage never reached the spool: the test did not test it");

        var scrape = await MetricsTests.ScrapeAsync(env.Host);
        Assert.Equal(1000, MetricsTests.Value(scrape, "api_requests_by_status{status=\"200\"}"));
        Assert.Equal(records.Sum(r => r.GetInt64("CostNanoUsd") ?? 0) / 1e9, MetricsTests.Value(scrape, "api_cost_usd_total"), 9);
    }

    [Fact]
    public async Task QueuedRecords_WhenStorageFallsBehind_AreBoundedAndCallsWaitInstead()
    {
        await using var azurite = await Azurite.StartAsync();
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Storage:AwaitRecordWrite"] = "false";
            s["Storage:MaxQueuedRecords"] = "100";
        }, sharedAzurite: azurite);
        using var http = env.Host.CreateHttpClient();
        var writer = env.Local.Get<Core.Records.RecordWriter>();
        using (var warm = await http.PostAsync("/v1/chat/completions", Chat(false)))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        }

        await env.RecordsAsync(1);
        var maxQueued = 0;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                maxQueued = Math.Max(maxQueued, writer.Queued);
                await Task.Delay(5, CancellationToken.None);
            }
        });

        // More calls than the queue (100) and the commits in flight (4 × 40 records) hold, so callers must wait for room.
        const int calls = 100 + (4 * Core.Records.RecordWriter.MaxBatch) + 100;
        azurite.Pause();
        var slow = 0;
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, calls), new ParallelOptions { MaxDegreeOfParallelism = 20 }, async (i, ct) =>
            {
                var started = System.Diagnostics.Stopwatch.StartNew();
                using var response = await http.PostAsync("/v1/chat/completions", Chat(i % 2 == 0), ct);
                await response.Content.ReadAsStringAsync(ct);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                if (started.Elapsed > TimeSpan.FromSeconds(2))
                {
                    Interlocked.Increment(ref slow);
                }
            });
        }
        finally
        {
            azurite.Resume();
            stop.Cancel();
            await sampler;
        }

        output.WriteLine($"{calls} queued-mode calls with storage paused: at most {maxQueued} records queued (bound 100); "
            + $"{slow} calls waited > 2 s; spooled {writer.Spooled}");
        Assert.Equal(100, maxQueued);
        Assert.True(slow > 0, "no call ever waited: the bound was not reached");
        var records = await env.RecordsAsync(calls + 1, TimeSpan.FromSeconds(60));
        Assert.Equal(calls + 1, records.Select(r => r.RowKey).Distinct().Count());
    }

    [Fact]
    public async Task SigtermUnderLoad_WritesEveryCallInFlightBeforeExit()
    {
        await using var azurite = await Azurite.SharedAccountAsync();
        await using var upstream = new FakeOpenAI { Default = new Scenario { Words = 40, ChunkDelay = TimeSpan.FromMilliseconds(25) } };
        var settings = ProxyHost.DefaultSettings(await upstream.StartAsync(), azurite.ConnectionString);
        await using var host = await ExternalHost.StartAsync(settings);
        using var http = host.CreateHttpClient();

        var calls = Enumerable.Range(0, 100).Select(async i =>
        {
            try
            {
                using var response = await http.PostAsync("/v1/chat/completions", Chat(stream: true));
                var body = await response.Content.ReadAsStringAsync();
                return response.StatusCode == HttpStatusCode.OK && body.EndsWith("data: [DONE]\n\n", StringComparison.Ordinal);
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }).ToList();

        // SIGTERM once calls are at the upstream (each stream takes a second there), not after a fixed time.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (upstream.Requests < 50 && DateTime.UtcNow < until)
        {
            await Task.Delay(10);
        }

        host.Signal("TERM");
        var completed = (await Task.WhenAll(calls)).Count(c => c);
        await host.Child.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        var records = await azurite.AllCallsAsync();
        output.WriteLine($"SIGTERM: {upstream.Requests} calls forwarded, {completed} completed, {records.Count} records, "
            + $"exit code {host.Child.Process.ExitCode}");
        Assert.Equal(0, host.Child.Process.ExitCode);
        Assert.Equal(upstream.Requests, records.Count);
        Assert.Equal(records.Count, records.Select(r => r.RowKey).Distinct().Count());
        Assert.True(completed > 0);
    }

    /// <summary>
    /// SIGKILL under 16 keep-alive connections. By default a call's answer completes before its record is written, and
    /// the connection's next request waits for that write: at most one answered call per connection has no record
    /// (queued records, <c>Storage__AwaitRecordWrite=false</c>, lose the whole queue and fail this bound). With
    /// <c>Storage__LocalDiskIsDurable=false</c> (the Functions default) the record is written before the answer's last
    /// bytes: none.
    /// </summary>
    [Theory]
    [InlineData("true", 16)]
    [InlineData("false", 0)]
    public async Task SigkillUnderLoad_LosesAtMostOneAnsweredCallPerConnection_NoneWhenRecordsComeFirst_AndNeverDuplicates(
        string localDiskIsDurable, int maxLost)
    {
        await using var azurite = await Azurite.SharedAccountAsync();
        await using var upstream = new FakeOpenAI();
        var settings = ProxyHost.DefaultSettings(await upstream.StartAsync(), azurite.ConnectionString);
        settings["Storage:LocalDiskIsDurable"] = localDiskIsDurable;
        await using var host = await ExternalHost.StartAsync(settings);
        using var http = host.CreateHttpClient();
        using var stop = new CancellationTokenSource();
        var answered = 0;
        var answeredIds = new System.Collections.Concurrent.ConcurrentBag<string>();
        var load = Enumerable.Range(0, 16).Select(async _ =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await http.PostAsync("/v1/chat/completions", Chat(stream: false), stop.Token);
                    if (response.IsSuccessStatusCode)
                    {
                        answeredIds.Add(response.Headers.GetValues("x-llm-call-id").Single());
                        Interlocked.Increment(ref answered);
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
                {
                    return;
                }
            }
        }).ToList();

        // Kill it mid-load: once it has answered a good number of calls (bounded wait on a busy machine).
        for (var waited = 0; Volatile.Read(ref answered) < 200 && waited < 200; waited++)
        {
            await Task.Delay(100);
        }

        host.Signal("KILL");
        await stop.CancelAsync();
        await Task.WhenAll(load);
        await host.Child.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30)); // no write of its can still come

        var records = await azurite.AllCallsAsync();
        var stored = records.Select(r => r.RowKey).ToHashSet(StringComparer.Ordinal);
        var lost = answeredIds.Count(id => !stored.Contains(id));
        output.WriteLine($"SIGKILL under 16-connection load, LocalDiskIsDurable={localDiskIsDurable}: {answered} answered, "
            + $"{records.Count} records, {lost} answered calls without a record");
        Assert.Equal(records.Count, stored.Count);
        Assert.True(lost <= maxLost, $"{lost} answered calls have no record (at most {maxLost})");
        Assert.InRange(records.Count, 1, (int)upstream.Requests);
        Assert.True(records.Count > 0);
    }

    [Fact]
    public async Task ThousandConcurrentStreams_AllSucceedWithExactlyAThousandRecords()
    {
        await using var azurite = await Azurite.SharedAccountAsync();
        await using var upstream = new FakeOpenAI { Default = new Scenario { Words = 20, ChunkDelay = TimeSpan.FromMilliseconds(50) } };
        var settings = ProxyHost.DefaultSettings(await upstream.StartAsync(), azurite.ConnectionString);
        await using var host = await ExternalHost.StartAsync(settings);
        using var http = host.CreateHttpClient();
        var started = DateTime.UtcNow;

        var results = await Task.WhenAll(Enumerable.Range(0, 1000).Select(async _ =>
        {
            using var response = await http.PostAsync("/v1/chat/completions", Chat(stream: true));
            var body = await response.Content.ReadAsStringAsync();
            return response.StatusCode == HttpStatusCode.OK && body.EndsWith("data: [DONE]\n\n", StringComparison.Ordinal);
        }));

        var elapsed = DateTime.UtcNow - started;
        var peak = host.PeakMemoryMb();
        List<Azure.Data.Tables.TableEntity> records = [];
        for (var i = 0; i < 100 && records.Count < 1000; i++)
        {
            records = await azurite.AllCallsAsync();
            await Task.Delay(100);
        }

        output.WriteLine($"1000 concurrent streams: {results.Count(r => r)} ok in {elapsed.TotalSeconds:0.0} s, {records.Count} records, peak RSS {peak:0} MB");
        Assert.All(results, Assert.True);
        Assert.Equal(1000, records.Count);
        Assert.Equal(1000, records.Select(r => r.RowKey).Distinct().Count());
    }
}
