using System.Diagnostics;
using System.Net;
using System.Text;
using LlmFunctions.Core.Records;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;
using OpenAI.Chat;
using Xunit.Abstractions;

namespace LlmFunctions.Tests.Integration;

/// <summary>Storage__LocalJournal: a record is durable once in the local journal; the table write follows.</summary>
public sealed class LocalJournalTests(ITestOutputHelper output)
{
    [Fact]
    public async Task JournaledCalls_AllReachTheTable_AndAStopLeavesNoSegment()
    {
        await using var env = await TestEnvironment.StartAsync(s => s["Storage:LocalJournal"] = "true");
        var writer = env.Local.Get<RecordWriter>();

        // Budget enforcement counts spend from this event: once per record, journaled then written or not.
        var durable = 0;
        writer.Durable += _ => Interlocked.Increment(ref durable);
        var chat = env.OpenAI().GetChatClient("gpt-4.1");
        await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => chat.CompleteChatAsync([new UserChatMessage("hi")])));

        // A client has its response before the handler has its record journaled (the record needs the response's
        // usage): wait until all 50 are.
        for (var waited = 0; Volatile.Read(ref durable) < 50 && waited < 100; waited++)
        {
            await Task.Delay(100);
        }

        var journal = env.Local.Get<RecordJournal>();
        Assert.True(journal.Files().Count() == 1, // this host's open segment
            $"journal segments: {journal.Files().Count()}; written {writer.Written}, spooled {writer.Spooled}; log: "
            + string.Join(" | ", env.Local.Logs.Lines.Where(l => l.Contains("Record", StringComparison.Ordinal))));

        await env.Local.App.StopAsync();
        var records = await env.RecordsAsync(50);
        Assert.Equal(50, records.Select(r => r.RowKey).Distinct().Count());
        Assert.Empty(journal.Files());
        Assert.Equal(50, Volatile.Read(ref durable));
    }

    [Fact]
    public async Task JournaledRecordsThatStorageRefused_AreReplayedOnce_AndAKillAfterwardsDuplicatesNone()
    {
        // Storage gone for real (stopped, not paused: a paused Azurite would still apply the writes it had received).
        var gone = await Azurite.StartAsync();
        var port = gone.Port;
        await using var upstream = new FakeOpenAI();
        var settings = ProxyHost.DefaultSettings(await upstream.StartAsync(), gone.ConnectionString);
        settings["Storage:LocalJournal"] = "true";
        var answered = new List<string>();
        Azurite? back = null;
        try
        {
            await using (var host = await ExternalHost.StartAsync(settings))
            {
                using var http = host.CreateHttpClient();
                await gone.DisposeAsync();
                for (var i = 0; i < 20; i++)
                {
                    answered.Add(await CallAsync(http));
                }

                // The table writes fail; the records are reported failed and their segment becomes a spool batch,
                // which the replay writes under new keys once storage is back. Then the host dies: had the segment
                // outlived the spool batch, the next start would replay its records again under yet other keys.
                // A replay in the calls' own minute would re-key them to that same key; make it a later minute.
                var journaledMinute = DateTime.UtcNow.Ticks / TimeSpan.TicksPerMinute;
                await TestEnvironment.WaitForHealthAsync(http, h => (int)h["spoolBacklog"]! >= answered.Count, "the 20 records spooled", TimeSpan.FromSeconds(30));
                while (DateTime.UtcNow.Ticks / TimeSpan.TicksPerMinute == journaledMinute)
                {
                    await Task.Delay(500);
                }

                back = await Azurite.StartAsync(port);
                var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
                while ((await back.AllCallsAsync()).Count < answered.Count && DateTime.UtcNow < until)
                {
                    await Task.Delay(250);
                }

                host.Signal("KILL");
            }

            await using (var host = await ExternalHost.StartAsync(settings))
            {
                // The start recovers any segment a dead host left into spool batches, which the replay writes and
                // deletes: no segment and no batch left means anything replayable was written (twice, had the segment
                // outlived its batch).
                using var http = host.CreateHttpClient();
                await TestEnvironment.WaitForHealthAsync(http, h => (int)h["spoolBacklog"]! == 0 && (long)h["recordsPending"]! == 0
                    && Directory.GetFiles(settings["Storage:SpoolDirectory"]!, "*.journal", SearchOption.AllDirectories).Length == 0,
                    "no segment or spool batch left", TimeSpan.FromSeconds(30));
            }

            var records = await back.AllCallsAsync();
            output.WriteLine($"{answered.Count} calls answered while storage was down; {records.Count} records after the replay, a kill and a restart");
            Assert.Equal(answered.Order(StringComparer.Ordinal), records.Select(r => r.GetString("CallId") ?? r.RowKey).Order(StringComparer.Ordinal));
        }
        finally
        {
            if (back is not null)
            {
                await back.DisposeAsync();
            }
        }
    }

    private static async Task<string> CallAsync(HttpClient http)
    {
        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(
            """{"model":"gpt-4.1","messages":[{"role":"user","content":"journal"}]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response.Headers.GetValues("x-llm-call-id").Single();
    }

    [Fact]
    public async Task SigkillWhileStorageIsPaused_LosesNoJournaledCall_AndTheNextStartWritesEachOnce()
    {
        await using var azurite = await Azurite.StartAsync();
        await using var upstream = new FakeOpenAI();
        var settings = ProxyHost.DefaultSettings(await upstream.StartAsync(), azurite.ConnectionString);
        settings["Storage:LocalJournal"] = "true";
        var answered = new List<string>();

        await using (var host = await ExternalHost.StartAsync(settings))
        {
            using var http = host.CreateHttpClient();
            answered.Add(await CallAsync(http)); // a first call with storage up: a fresh process's JIT is not what is timed
            azurite.Pause();
            try
            {
                var slowest = TimeSpan.Zero;
                for (var i = 0; i < 20; i++)
                {
                    var timer = Stopwatch.StartNew();
                    answered.Add(await CallAsync(http));
                    slowest = timer.Elapsed > slowest ? timer.Elapsed : slowest;
                }

                // Each call's handler returned once its record was flushed to the journal. Had it waited for the paused
                // storage, the first call would take the storage timeout (3 s) at least, twice, before its record was
                // spooled: no call may take one timeout.
                output.WriteLine($"20 sequential calls with storage paused: the slowest took {slowest.TotalMilliseconds:0} ms");
                Assert.True(slowest < TimeSpan.FromSeconds(3), $"a journaled call took {slowest.TotalMilliseconds:0} ms");
                host.Signal("KILL");
            }
            finally
            {
                azurite.Resume();
            }
        }

        // A new host on the same spool folder turns the dead host's segment into spool batches and replays them.
        List<Azure.Data.Tables.TableEntity> records;
        await using (var host = await ExternalHost.StartAsync(settings))
        {
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while ((records = await azurite.AllCallsAsync()).Count < answered.Count && DateTime.UtcNow < until)
            {
                await Task.Delay(250);
            }
        }

        records = await azurite.AllCallsAsync();
        output.WriteLine($"{answered.Count} calls answered before SIGKILL; {records.Count} records after the restart");
        Assert.Equal(answered.Order(StringComparer.Ordinal), records.Select(r => r.GetString("CallId") ?? r.RowKey).Order(StringComparer.Ordinal));
    }
}
