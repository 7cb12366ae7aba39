using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Records;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Records;

/// <summary>The replay of spooled records, over in-memory tables on the fake clock.</summary>
public sealed class SpoolReplayerTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 30, TimeSpan.Zero);

    /// <summary>
    /// A pass that committed one chunk of a file and then lost storage left the file whole; the next pass found that
    /// chunk stored and published it to the tail a second time, so scrapes, reports and budgets counted it twice until
    /// the fold (which reads the records) caught up. Found by <see cref="LateRecordsTests"/>: 2 runs in 24 counted one
    /// 40-record batch twice, a second replayer having opened a file between the first's unlock and its delete.
    /// </summary>
    [Fact]
    public async Task APassCutShortAfterACommittedChunk_DoesNotCountThatChunkAgain()
    {
        var tables = new InMemoryTables();
        await using var core = new InMemoryCore(tables, new FakeTimeProvider(Noon),
            new() { ["Budgets:all:LimitUsd"] = "1000", ["Budgets:all:Action"] = "notify" });
        await core.StartAsync();
        var replayer = core.Hosted<SpoolReplayer>();
        await replayer.StopAsync(CancellationToken.None); // its loop would race the passes below for the file
        var records = Enumerable.Range(0, 2 * RecordWriter.MaxBatch)
            .Select(_ => new SpooledRecord { Record = InMemoryCore.Record(Noon, costNanoUsd: 1_000) }).ToList();
        await core.Get<RecordSpool>().WriteBatchAsync(RecordSpool.NewFileName(), records, null, CancellationToken.None);
        var transactions = 0;
        tables.BeforeWrite = table =>
        {
            if (table.StartsWith(TableNames.CallsPrefix, StringComparison.Ordinal) && ++transactions == 2)
            {
                tables.Down = true; // storage goes away after the first chunk committed
            }
        };

        await Assert.ThrowsAnyAsync<Exception>(() => replayer.ReplayOnceAsync(CancellationToken.None));
        Assert.Equal(RecordWriter.MaxBatch, tables.EntitiesOf(TableNames.CallsPrefix).Count);
        (tables.BeforeWrite, tables.Down) = (null, false);
        await replayer.ReplayOnceAsync(CancellationToken.None);

        Assert.Empty(core.Get<RecordSpool>().Files());
        Assert.Equal(2 * RecordWriter.MaxBatch, tables.EntitiesOf(TableNames.CallsPrefix).Count);
        // Nothing is folded yet (the records are younger than the fold lag): the figure is the tail's, once per record.
        var all = Assert.Single(await core.Get<BudgetSpend>().ComputeAsync(CancellationToken.None));
        Assert.Equal(2 * RecordWriter.MaxBatch * 1_000, all.SpentNanoUsd);
    }

    /// <summary>
    /// On Functions the spool goes with the instance: a graceful stop (scale-in, a deploy) tries storage once more for
    /// what is spooled, rather than leave it to a disk that will not come back.
    /// </summary>
    [Fact]
    public async Task AGracefulStop_TriesStorageOnceMoreForWhatIsSpooled()
    {
        var tables = new InMemoryTables();
        await using var core = new InMemoryCore(tables, new FakeTimeProvider(Noon));

        // Not started: its loop never runs (as when a stop comes right after start, dotnet/runtime#131249), so only the
        // stop's own pass can store the file. Started, the loop's first pass raced the stop under load.
        var records = Enumerable.Range(0, 3)
            .Select(_ => new SpooledRecord { Record = InMemoryCore.Record(Noon) }).ToList();
        await core.Get<RecordSpool>().WriteBatchAsync(RecordSpool.NewFileName(), records, null, CancellationToken.None);

        await core.Hosted<SpoolReplayer>().StopAsync(CancellationToken.None);

        Assert.Equal(3, tables.EntitiesOf(TableNames.CallsPrefix).Count);
        Assert.Empty(core.Get<RecordSpool>().Files());
    }
}
