using LlmFunctions.Core.Records;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Records;

/// <summary>A journal segment's life: appended, reported, sealed, then deleted or turned into one spool batch.</summary>
public sealed class RecordJournalTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 30, TimeSpan.Zero);

    [Fact]
    public async Task ASegmentWhoseRecordsWereAllStored_IsDeletedWhenSealed()
    {
        await using var core = JournalCore();
        var journal = core.Get<RecordJournal>();

        var segment = journal.Append(Spooled(3));
        journal.Report(segment, 3, stored: true);
        Assert.Single(journal.Files());            // still the current segment
        Assert.False(segment.State.Finished);

        journal.Close();
        Assert.True(segment.State.Finished);
        Assert.Empty(journal.Files());
        Assert.Empty(core.Get<RecordSpool>().Files());
    }

    [Fact]
    public async Task ASegmentWithAFailedRecord_IsSealedAtOnce_AndBecomesOneSpoolBatchOfAllItsRecords()
    {
        await using var core = JournalCore();
        var journal = core.Get<RecordJournal>();

        var first = journal.Append(Spooled(2));
        journal.Report(first, 1, stored: false);
        Assert.True(first.State.Sealed);
        Assert.False(first.State.Finished);         // one record still outstanding

        var second = journal.Append(Spooled(1));     // a sealed segment takes no more records
        Assert.NotSame(first, second);

        journal.Report(first, 1, stored: true);
        Assert.True(first.State.Finished);
        await journal.ConvertFinishedAsync(CancellationToken.None);

        var batch = Assert.Single(core.Get<RecordSpool>().Files());
        Assert.EndsWith("-2.spool", batch, StringComparison.Ordinal);
        Assert.Single(journal.Files());               // the second, current segment
    }

    /// <summary>One instance with <c>Storage__LocalJournal=true</c> on the fake clock at noon.</summary>
    internal static InMemoryCore JournalCore(InMemoryTables? tables = null) =>
        new(tables ?? new InMemoryTables(), new FakeTimeProvider(Noon), new() { ["Storage:LocalJournal"] = "true" });

    internal static List<SpooledRecord> Spooled(int count) =>
        [.. Enumerable.Range(0, count)
            .Select(_ => new SpooledRecord { Record = InMemoryCore.Record(Noon), AttemptedPartitionKeys = ["k"] })];
}
