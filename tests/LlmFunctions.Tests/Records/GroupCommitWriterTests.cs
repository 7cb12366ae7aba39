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
}
