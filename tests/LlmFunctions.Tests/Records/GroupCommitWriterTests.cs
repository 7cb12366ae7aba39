using Azure;
using Azure.Data.Tables;
using LlmFunctions.Core.Records;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Records;

/// <summary>The record path over in-memory tables and a fake clock: durability, the retry, the outage rule, the replay.</summary>
public sealed class GroupCommitWriterTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 30, TimeSpan.Zero);

    [Fact]
    public async Task AnAwaitedRecord_IsInTheTable_WhenItsWriteCompletes_AndEachIsStoredOnce()
    {
        var tables = new InMemoryTables();
        await using var core = new InMemoryCore(tables, new FakeTimeProvider(Noon));
        await core.StartAsync();
        var writer = core.Get<RecordWriter>();

        var records = Enumerable.Range(0, 200).Select(_ => InMemoryCore.Record(Noon)).ToList();
        await Task.WhenAll(records.Select(async r =>
        {
            await writer.WriteAsync(r);
            Assert.Contains(tables.EntitiesOf("LlmCalls"), e => e.RowKey == r.CallId);
        }));

        var stored = tables.EntitiesOf("LlmCalls");
        Assert.Equal(200, stored.Count);
        Assert.Equal(records.Select(r => r.CallId).Order(), stored.Select(e => e.RowKey).Order());
        Assert.Equal(200, writer.Written);
        Assert.Equal(0, writer.Spooled);
    }

    [Fact]
    public async Task WhenStorageFailsTwice_TheBatchIsSpooled_LaterBatchesGoStraightToTheSpool_AndOneReplayStoresEachOnce()
    {
        var tables = new InMemoryTables { Down = true };
        await using var core = new InMemoryCore(tables, new FakeTimeProvider(Noon));
        await core.StartAsync();
        var writer = core.Get<RecordWriter>();
        var outage = core.Get<StorageOutage>();

        // Two attempts 100 ms apart (Polly's retry, on the fake clock), then the spool.
        await core.AdvanceUntilAsync(writer.WriteAsync(InMemoryCore.Record(Noon)), TimeSpan.FromMilliseconds(50));
        Assert.Equal(2, tables.RequestCount);
        Assert.Equal(1, writer.Spooled);
        Assert.True(outage.IsDown);

        // Storage counts as down: the next batch does not wait out two more failures.
        await writer.WriteAsync(InMemoryCore.Record(Noon)).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(2, tables.RequestCount);
        Assert.Equal(2, writer.Spooled);

        tables.Down = false;
        var replayer = core.Hosted<SpoolReplayer>();
        Assert.Equal(2, await replayer.ReplayOnceAsync(CancellationToken.None));
        Assert.Equal(0, await replayer.ReplayOnceAsync(CancellationToken.None));
        Assert.Equal(2, tables.EntitiesOf("LlmCalls").Select(e => e.RowKey).Distinct().Count());
        Assert.Equal(2, tables.EntitiesOf("LlmCalls").Count);
    }

    [Fact]
    public async Task TheOutageLasts_StorageOutageDuration_ThenBatchesTryTheTableAgain()
    {
        var tables = new InMemoryTables { Down = true };
        await using var core = new InMemoryCore(tables, new FakeTimeProvider(Noon));
        await core.StartAsync();
        var writer = core.Get<RecordWriter>();
        await core.AdvanceUntilAsync(writer.WriteAsync(InMemoryCore.Record(Noon)), TimeSpan.FromMilliseconds(50));
        tables.Down = false;

        await writer.WriteAsync(InMemoryCore.Record(Noon));
        Assert.Equal(2, writer.Spooled);

        core.Time.Advance(StorageOutage.Duration);
        var late = InMemoryCore.Record(Noon);
        await writer.WriteAsync(late);
        Assert.Equal(2, writer.Spooled);
        Assert.Contains(tables.EntitiesOf("LlmCalls"), e => e.RowKey == late.CallId);
    }

    [Fact]
    public async Task ARecordStorageRefuses_IsStoredCutDown_AndTheRestOfItsBatchIsCommitted_NothingSpooled()
    {
        // Storage refusing one entity (here: any that carries metadata) must not hold the records batched with it.
        var tables = new InMemoryTables { Refuses = e => e.GetString("Metadata") is { Length: > 0 } };
        await using var core = new InMemoryCore(tables, new FakeTimeProvider(Noon));
        await core.StartAsync();
        var writer = core.Get<RecordWriter>();
        var records = Enumerable.Range(0, 40).Select(_ => InMemoryCore.Record(Noon)).ToList();
        var refused = records[17];
        refused.Metadata = """{"k":"v"}""";
        refused.Model = new string('m', 5_000);

        await Task.WhenAll(records.Select(r => writer.WriteAsync(r))).WaitAsync(TimeSpan.FromSeconds(10));

        var stored = tables.EntitiesOf("LlmCalls");
        Assert.Equal(records.Select(r => r.CallId).Order(), stored.Select(e => e.RowKey).Order());
        var cut = Assert.Single(stored, e => e.RowKey == refused.CallId);
        Assert.Equal("", cut.GetString("Metadata"));
        Assert.Equal(128, cut.GetString("Model")!.Length);
        Assert.Equal(refused.CostNanoUsd, cut.GetInt64("CostNanoUsd"));
        Assert.Equal(0, writer.Spooled);
        Assert.False(core.Get<StorageOutage>().IsDown);
        Assert.Equal(1, core.Get<TableStore>().ShrunkRecords);
    }

    [Fact]
    public async Task AModelOfFortyThousandCharacters_FitsTableStorage_ThroughTheMapper()
    {
        // 40,000 UTF-16 characters are 80,000 bytes, past Table Storage's 64 KiB for one property.
        var tables = new InMemoryTables();
        await using var core = new InMemoryCore(tables, new FakeTimeProvider(Noon));
        await core.StartAsync();
        var record = InMemoryCore.Record(Noon, model: new string('m', 40_000));
        record.EndUser = new string('u', 40_000);

        await core.Get<RecordWriter>().WriteAsync(record).WaitAsync(TimeSpan.FromSeconds(10));

        var stored = Assert.Single(tables.EntitiesOf("LlmCalls"));
        Assert.Equal(Core.Records.CallRecordMapper.MaxTextLength, stored.GetString("Model")!.Length);
        Assert.Equal(0, core.Get<TableStore>().ShrunkRecords);
    }

    [Fact]
    public async Task TheInMemoryTables_RefuseWhatTableStorageRefuses()
    {
        var tables = new InMemoryTables();
        var table = tables.Table("T");
        await table.CreateIfNotExistsAsync(CancellationToken.None);

        Task Add(TableEntity e) => table.AddAsync(e, CancellationToken.None);
        var longString = new TableEntity("p", "r1") { ["S"] = new string('x', 32_769) };
        var manyProperties = new TableEntity("p", "r2");
        for (var i = 0; i < 253; i++)
        {
            manyProperties["P" + i] = i;
        }

        var tooLarge = new TableEntity("p", "r3");
        for (var i = 0; i < 20; i++)
        {
            tooLarge["S" + i] = new string('x', 30_000);
        }

        foreach (var (entity, code) in new[]
        {
            (longString, "PropertyValueTooLarge"), (manyProperties, "TooManyProperties"), (tooLarge, "EntityTooLarge"),
            (new TableEntity("p/q", "r4"), "OutOfRangeInput"), (new TableEntity("p", "r\u0001"), "OutOfRangeInput"),
            (new TableEntity(new string('k', 513), "r5"), "PropertyValueTooLarge"),
        })
        {
            var ex = await Assert.ThrowsAnyAsync<RequestFailedException>(() => Add(entity));
            Assert.Equal((400, code), (ex.Status, ex.ErrorCode));
        }

        var hundredAndOne = Enumerable.Range(0, 101)
            .Select(i => new TableTransactionAction(TableTransactionActionType.UpsertReplace, new TableEntity("p", "t" + i))).ToList();
        Assert.Equal(400, (await Assert.ThrowsAnyAsync<RequestFailedException>(() => table.SubmitAsync(hundredAndOne, CancellationToken.None))).Status);
        var fiveMegabytes = Enumerable.Range(0, 90)
            .Select(i => new TableTransactionAction(TableTransactionActionType.UpsertReplace,
                new TableEntity("p", "u" + i) { ["A"] = new string('x', 30_000) })).ToList();
        Assert.Equal(413, (await Assert.ThrowsAnyAsync<RequestFailedException>(() => table.SubmitAsync(fiveMegabytes, CancellationToken.None))).Status);

        // At the limits, accepted.
        await Add(new TableEntity("p", "ok") { ["S"] = new string('x', 32_768) });
        Assert.Single(tables.Entities("T"));
    }

    [Fact]
    public async Task ASpoolFileThatCannotBeReplayed_IsSetAside_AndTheFilesBehindItAreReplayed()
    {
        var tables = new InMemoryTables { Down = true };
        await using var core = new InMemoryCore(tables, new FakeTimeProvider(Noon));
        await core.StartAsync();
        var writer = core.Get<RecordWriter>();
        await core.AdvanceUntilAsync(writer.WriteAsync(InMemoryCore.Record(Noon)), TimeSpan.FromMilliseconds(50));
        await writer.WriteAsync(InMemoryCore.Record(Noon));
        Assert.Equal(2, writer.Spooled);

        // A file that sorts first and is not a spool batch (cut short by a full disk, say).
        var spool = core.Get<RecordSpool>();
        File.WriteAllText(Path.Combine(spool.Directory, "0000000000000000000-broken-3.spool"), "[{\"Record\":");
        tables.Down = false;

        Assert.Equal(2, await core.Hosted<SpoolReplayer>().ReplayOnceAsync(CancellationToken.None));
        Assert.Equal(2, tables.EntitiesOf("LlmCalls").Count);
        Assert.Equal(1, spool.Quarantined);
        Assert.Empty(spool.Files());
        Assert.True(File.Exists(Path.Combine(spool.QuarantineDirectory, "0000000000000000000-broken-3.spool")));
    }

    [Fact]
    public async Task AHandlerOfDurableRecordsThatThrows_NeverLeavesACallerWaiting()
    {
        var tables = new InMemoryTables();
        await using var core = new InMemoryCore(tables, new FakeTimeProvider(Noon));
        await core.StartAsync();
        var writer = core.Get<RecordWriter>();
        writer.Durable += _ => throw new InvalidOperationException("a defect in a handler");

        var records = Enumerable.Range(0, 50).Select(_ => InMemoryCore.Record(Noon)).ToList();
        await Task.WhenAll(records.Select(r => writer.WriteAsync(r))).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(50, tables.EntitiesOf("LlmCalls").Count);
        await writer.WriteAsync(InMemoryCore.Record(Noon)).WaitAsync(TimeSpan.FromSeconds(10)); // the loop goes on
    }

    [Fact]
    public async Task AStopThatCallsOutlast_StillRunsDown_AndALaterRecordGoesToTheSpool()
    {
        var tables = new InMemoryTables();
        await using var core = new InMemoryCore(tables, new FakeTimeProvider(Noon));
        await core.StartAsync();
        var writer = core.Get<RecordWriter>();
        await writer.WriteAsync(InMemoryCore.Record(Noon));
        core.Get<InFlightCalls>().Enter(); // a call that never ends within the shutdown timeout
        var commitLoop = core.Hosted<GroupCommitWriter>();

        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await commitLoop.StopAsync(timeout.Token).WaitAsync(TimeSpan.FromSeconds(10)); // threw before, and the base stop never ran

        core.Get<InFlightCalls>().Exit();
        await commitLoop.ExecuteTask!.WaitAsync(TimeSpan.FromSeconds(5)); // the queue was closed: the loop ran down
        await writer.WriteAsync(InMemoryCore.Record(Noon)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, core.Get<RecordSpool>().Backlog);
    }

    [Fact]
    public async Task TwoStoresSharingOneSpoolFolder_EachReplaysOnlyItsOwnRecords()
    {
        // Two deployments on one machine with the default folder: A's storage is down for 30 calls, then B starts on
        // another account. Before, B replayed A's 30 records into B's account and A, back later, got none.
        var folder = Path.Combine(Path.GetTempPath(), "llm-two-stores-" + Guid.NewGuid().ToString("N"));
        static Dictionary<string, string?> Store(string account, string folder) => new()
        {
            ["Storage:ConnectionString"] =
                $"DefaultEndpointsProtocol=http;AccountName={account};AccountKey=a2V5;TableEndpoint=http://127.0.0.1:10002/{account};",
            ["Storage:SpoolDirectory"] = folder,
        };

        var tablesA = new InMemoryTables { Down = true };
        var tablesB = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tablesA, time, Store("accounta", folder));
        await a.StartAsync();
        var writerA = a.Get<RecordWriter>();
        await a.AdvanceUntilAsync(writerA.WriteAsync(InMemoryCore.Record(Noon)), TimeSpan.FromMilliseconds(50));
        await Task.WhenAll(Enumerable.Range(0, 29).Select(_ => writerA.WriteAsync(InMemoryCore.Record(Noon))));
        Assert.Equal(30, writerA.Spooled);

        await using var b = new InMemoryCore(tablesB, time, Store("accountb", folder));
        await b.StartAsync();
        Assert.Equal(0, await b.Hosted<SpoolReplayer>().ReplayOnceAsync(CancellationToken.None));
        Assert.Empty(tablesB.EntitiesOf("LlmCalls"));
        Assert.NotEqual(a.Get<RecordSpool>().Directory, b.Get<RecordSpool>().Directory);

        tablesA.Down = false;
        Assert.Equal(30, await a.Hosted<SpoolReplayer>().ReplayOnceAsync(CancellationToken.None));
        Assert.Equal(30, tablesA.EntitiesOf("LlmCalls").Count);
    }

    [Fact]
    public async Task StorageThatThrottles_TenPercentServerBusyAndTenPercentTimedOutAfterCommitting_StoresEveryRecordOnce_WithoutTheSpool()
    {
        // Before: one batch failing twice marked storage down, every later batch went to the spool, and the replay
        // stalled (78 of 400 records in the table after 90 s, measured on Azurite behind a fault injector).
        var tables = new InMemoryTables { ServerBusyRate = 0.10, TimeoutAfterCommitRate = 0.10 };
        await using var core = new InMemoryCore(tables, new FakeTimeProvider(Noon));
        await core.StartAsync();
        var writer = core.Get<RecordWriter>();
        await core.Get<TableStore>().EnsureCallsTableAsync(RecordKeys.PartitionKey(Noon, writer.Shard)); // (retried by its caller in real use)

        var records = Enumerable.Range(0, 400).Select(_ => InMemoryCore.Record(Noon)).ToList();
        var callers = Enumerable.Range(0, 16).Select(c => Task.Run(async () =>
        {
            for (var i = c; i < records.Count; i += 16)
            {
                await writer.WriteAsync(records[i]);
            }
        }));
        await core.AdvanceUntilAsync(Task.WhenAll(callers), TimeSpan.FromMilliseconds(50));

        var stored = tables.EntitiesOf("LlmCalls");
        Assert.Equal(400, stored.Count);
        Assert.Equal(records.Select(r => r.CallId).Order(), stored.Select(e => e.RowKey).Order());
        Assert.True(tables.Faults >= 3, $"{tables.Faults} faults injected"); // a batch per transaction: 7 with this seed
        Assert.Equal(0, writer.Spooled);
        Assert.False(core.Get<StorageOutage>().IsDown);
    }

    [Fact]
    public async Task TheReplay_UnderThrottling_StoresEverySpooledRecordOnce()
    {
        // Before, a pass read each record back one by one and ended at the first 503: at 10 % busy it almost never
        // finished a file (a 40-record file passes 40 reads with a chance of 1.5 %), and the spool never drained.
        var tables = new InMemoryTables { Down = true };
        await using var core = new InMemoryCore(tables, new FakeTimeProvider(Noon));
        await core.StartAsync();
        await core.SpoolThroughOutageAsync(401, Noon);
        Assert.Equal(401, core.Get<RecordWriter>().Spooled);

        tables.Down = false;
        tables.ServerBusyRate = 0.10;
        tables.TimeoutAfterCommitRate = 0.10;
        var replayer = core.Hosted<SpoolReplayer>();
        for (var pass = 0; pass < 5 && core.Get<RecordSpool>().Backlog > 0; pass++)
        {
            await core.AdvanceUntilAsync(replayer.ReplayOnceAsync(CancellationToken.None), TimeSpan.FromMilliseconds(100));
        }

        Assert.Equal(0, core.Get<RecordSpool>().Backlog);
        var stored = tables.EntitiesOf("LlmCalls");
        Assert.Equal(401, stored.Count);
        Assert.Equal(401, stored.Select(e => e.RowKey).Distinct().Count());
        Assert.True(tables.Faults > 0);
    }

    /// <summary>
    /// The writer keyed a batch once and retried a throttled one under that key for up to six attempts, so with storage
    /// slow and the smallest fold lag (10 s) an attempt could land after the fold had passed its key's minute, a record no
    /// fold ever counts (the window LateRecordsTests closed on the replay's path). An attempt now starts only within the
    /// lag less 7 s of its key; later, the batch goes to the spool, whose replay keys it afresh.
    /// </summary>
    [Fact]
    public async Task RetriesUnderOneKey_StopBeforeTheFoldCouldPassIt_AndTheReplayStoresTheBatch()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var core = new InMemoryCore(tables, time, new() { ["Metrics:FoldLagSeconds"] = "10" });
        await core.StartAsync();
        var attempts = new List<DateTimeOffset>();
        tables.BeforeWrite = table =>
        {
            if (table.StartsWith(TableNames.CallsPrefix, StringComparison.Ordinal))
            {
                attempts.Add(time.GetUtcNow());
                time.Advance(TimeSpan.FromSeconds(2)); // each attempt takes 2 s, as a slow storage account's may
                throw new RequestFailedException(503, "The server is busy.", "ServerBusy", null);
            }
        };

        var write = core.Get<RecordWriter>().WriteAsync(InMemoryCore.Record(Noon));
        await core.AdvanceUntilAsync(write, TimeSpan.FromMilliseconds(50));

        Assert.Equal(RecordLocation.Spool, await write);
        Assert.True(attempts.Count >= 2, $"{attempts.Count} attempts: the throttled write was never retried");
        Assert.All(attempts, at => Assert.InRange(at - attempts[0], TimeSpan.Zero, TimeSpan.FromSeconds(3)));

        tables.BeforeWrite = null;
        await core.Hosted<SpoolReplayer>().ReplayOnceAsync(CancellationToken.None);
        Assert.Single(tables.EntitiesOf(TableNames.CallsPrefix));
    }
}
