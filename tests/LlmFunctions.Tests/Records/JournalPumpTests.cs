using System.Text.Json;
using LlmFunctions.Core.Records;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Records;

/// <summary>
/// The journal pump (<c>Storage__LocalJournal=true</c>) between the writer's queue and the table, over in-memory tables
/// on a fake clock that never moves: a caller that waited for storage would wait for a retry's delay on that clock and
/// never complete, so completing at all shows it did not wait.
/// </summary>
public sealed class JournalPumpTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 30, TimeSpan.Zero);

    [Fact]
    public async Task WithStorageDown_ACallerIsReleasedOnceItsRecordIsJournaled_NotWhenStorageAnswers()
    {
        await using var core = RecordJournalTests.JournalCore(new InMemoryTables { Down = true });
        await StartPumpAndWriterAsync(core);

        var location = await core.Get<RecordWriter>().WriteAsync(InMemoryCore.Record(Noon)).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(RecordLocation.Journal, location);
        var segment = Assert.Single(core.Get<RecordJournal>().Files());
        Assert.Empty(core.Tables.EntitiesOf(TableNames.CallsPrefix));
        Assert.True(new FileInfo(segment).Length > 0);
    }

    [Fact]
    public async Task AJournalThatCannotBeWritten_LetsTheRecordGoOnToTheTable_AndItsCallerWaitsForIt()
    {
        await using var core = RecordJournalTests.JournalCore();
        var folder = core.Get<RecordSpool>().Directory;
        Directory.CreateDirectory(Path.GetDirectoryName(folder)!);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        await File.WriteAllTextAsync(folder, "a file where the journal's folder should be"); // no segment can be opened (also as root)
        try
        {
            await StartPumpAndWriterAsync(core);

            var location = await core.Get<RecordWriter>().WriteAsync(InMemoryCore.Record(Noon)).WaitAsync(TimeSpan.FromSeconds(10));

            Assert.Equal(RecordLocation.Table, location);
            Assert.Single(core.Tables.EntitiesOf(TableNames.CallsPrefix));
            Assert.Contains("The local journal could not be written", core.Logs.All, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(folder);
        }
    }

    [Fact]
    public async Task ASegmentACrashedHostLeft_BecomesOneSpoolBatch_BeforeAnythingNewIsJournaled()
    {
        await using var core = RecordJournalTests.JournalCore();
        var spool = core.Get<RecordSpool>();
        Directory.CreateDirectory(spool.Directory);
        var leftover = Path.Combine(spool.Directory, RecordSpool.NewFileName() + ".journal");
        await File.WriteAllLinesAsync(leftover, RecordJournalTests.Spooled(3).Select(r => JsonSerializer.Serialize(r, SpoolJsonContext.Default.SpooledRecord)));
        await StartPumpAndWriterAsync(core);

        var location = await core.Get<RecordWriter>().WriteAsync(InMemoryCore.Record(Noon)).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(RecordLocation.Journal, location);
        Assert.False(File.Exists(leftover));
        var batch = Assert.Single(spool.Files());
        Assert.EndsWith("-3.spool", batch, StringComparison.Ordinal);
        Assert.DoesNotContain(leftover, core.Get<RecordJournal>().Files()); // the new record went to a segment of this host's
    }

    /// <summary>The pump and the writer only: no replayer, whose loop would take the spool batches away.</summary>
    private static Task StartPumpAndWriterAsync(InMemoryCore core) => core.StartAsync(s => s is JournalPump or GroupCommitWriter);
}
