using LlmFunctions.Core.Records;
using LlmFunctions.Core.Spend;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Spend;

/// <summary><c>/spend/calls</c> pages over in-memory tables on a fake clock: only settled minutes, and cursors kept to the range.</summary>
public sealed class CallsPageTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 30, TimeSpan.Zero);

    private static SpendQuery Query(int limit) =>
        new(new DateOnly(2026, 11, 28), new DateOnly(2026, 11, 28), SpendGrouping.None, new SpendFilter(null, null, null, null), Csv: false,
            Limit: limit, After: null);

    [Fact]
    public async Task APage_HoldsOnlyMinutesPastTheFoldLag_AndACursorOutsideTheRangeIsKeptToIt()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var core = new InMemoryCore(tables, time);
        await core.StartAsync();
        await Task.WhenAll(Enumerable.Range(0, 3).Select(i => core.Get<RecordWriter>().WriteAsync(InMemoryCore.Record(Noon, costNanoUsd: 1_000 + i))));
        var calls = core.Get<CallsPage>();
        var (start, end) = (new DateTimeOffset(2026, 11, 28, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero));

        // Another instance may still commit into the minute: a cursor past it would miss that record for good.
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.Empty((await calls.ReadAsync(start, end, Query(10), after: null, CancellationToken.None)).Records);

        time.Advance(TimeSpan.FromMinutes(2));
        var first = await calls.ReadAsync(start, end, Query(2), after: null, CancellationToken.None);
        Assert.Equal(2, first.Records.Count);
        Assert.True(CallsPage.Cursor.TryParse(first.Next, out var cursor));
        var rest = await calls.ReadAsync(start, end, Query(2), cursor, CancellationToken.None);
        Assert.Single(rest.Records);
        Assert.Null(rest.Next);

        // A cursor from before the range starts at the range; one from past it ends the paging.
        var early = new CallsPage.Cursor("202611270000", "x");
        Assert.Equal(3, (await calls.ReadAsync(start, end, Query(10), early, CancellationToken.None)).Records.Count);
        var late = new CallsPage.Cursor("202611300000", "x");
        var none = await calls.ReadAsync(start, end, Query(10), late, CancellationToken.None);
        Assert.Equal((0, null), (none.Records.Count, none.Next));
    }
}
