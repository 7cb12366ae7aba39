using LlmFunctions.Core.Metrics;
using LlmFunctions.Core.Records;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Metrics;

/// <summary>The fold over in-memory tables and a fake clock: what it takes, when, and once across instances.</summary>
public sealed class AggregateFolderTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 30, TimeSpan.Zero);

    [Fact]
    public async Task TheFold_TakesMinutesPastTheLag_Once_AndKeepsTheirSpendPer15Minutes()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var core = new InMemoryCore(tables, time);
        await core.StartAsync();
        var writer = core.Get<RecordWriter>();
        var folder = core.Get<AggregateFolder>();
        await Task.WhenAll(Enumerable.Range(0, 30).Select(i => writer.WriteAsync(InMemoryCore.Record(Noon, costNanoUsd: 1_000 + i))));

        // Within the lag the minute is not folded: another instance may still commit into it.
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(0, await folder.FoldAsync(CancellationToken.None));

        time.Advance(folder.Lag + TimeSpan.FromMinutes(1));
        Assert.Equal(30, await folder.FoldAsync(CancellationToken.None));
        Assert.Equal(0, await folder.FoldAsync(CancellationToken.None));

        var (state, _) = await folder.LoadAsync(CancellationToken.None);
        Assert.Equal(30, state!.FoldedRecords);
        Assert.True(string.CompareOrdinal(state.Watermark, RecordKeys.Minute(Noon)) > 0, state.Watermark);
        var spend = await folder.SpendAsync(Noon.AddMinutes(-1), Noon.AddMinutes(15), CancellationToken.None);
        Assert.Equal(Enumerable.Range(0, 30).Sum(i => 1_000L + i), spend.Values.Sum());
    }

    [Fact]
    public async Task TwoInstancesFoldingAtOnce_CountEachRecordOnce()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tables, time);
        await using var b = new InMemoryCore(tables, time);
        await a.StartAsync();
        await b.StartAsync();
        for (var minute = 0; minute < 5; minute++)
        {
            await Task.WhenAll(Enumerable.Range(0, 20).Select(i => (i % 2 == 0 ? a : b).Get<RecordWriter>().WriteAsync(InMemoryCore.Record(time.GetUtcNow()))));
            time.Advance(TimeSpan.FromMinutes(1));
        }

        time.Advance(TimeSpan.FromMinutes(2));
        var both = Task.WhenAll(a.Get<AggregateFolder>().FoldAsync(CancellationToken.None), b.Get<AggregateFolder>().FoldAsync(CancellationToken.None));
        await a.AdvanceUntilAsync(both, TimeSpan.FromMilliseconds(10)); // the loser of a conflict backs off on the clock
        var folded = await both;

        Assert.Equal(100, folded.Sum());
        var (state, _) = await a.Get<AggregateFolder>().LoadAsync(CancellationToken.None);
        Assert.Equal(100, state!.FoldedRecords);
    }
}
