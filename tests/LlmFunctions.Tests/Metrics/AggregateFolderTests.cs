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
    public async Task ListedTags_GetTheirOwnSeries_TheSameFromTheTailAndTheFold()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var core = new InMemoryCore(tables, time, new() { ["Metrics:Tags"] = "team-a,batch" });
        await core.StartAsync();
        var writer = core.Get<RecordWriter>();
        var folder = core.Get<AggregateFolder>();
        foreach (var tags in new[] { "batch,team-a", "team-a", "team-b", "" })
        {
            var record = InMemoryCore.Record(Noon, costNanoUsd: 1_000_000);
            record.Tags = tags;
            await writer.WriteAsync(record);
        }

        async Task<string[]> TagLinesAsync()
        {
            using var stream = new MemoryStream();
            await MetricsRenderer.RenderAsync(stream, await folder.SnapshotAsync(CancellationToken.None), [], default, CancellationToken.None);
            return [.. System.Text.Encoding.UTF8.GetString(stream.ToArray()).Split('\n').Where(l => l.StartsWith("api_", StringComparison.Ordinal) && l.Contains("tag="))];
        }

        var fromTail = await TagLinesAsync();
        time.Advance(folder.Lag + TimeSpan.FromMinutes(1));
        Assert.Equal(4, await folder.FoldAsync(CancellationToken.None));

        Assert.Equal(fromTail.Order(StringComparer.Ordinal), (await TagLinesAsync()).Order(StringComparer.Ordinal));
        string[] expected =
        [
            "api_cost_by_tag_total{tag=\"batch\"} 0.001", "api_cost_by_tag_total{tag=\"team-a\"} 0.002",
            "api_requests_by_tag_total{tag=\"batch\"} 1", "api_requests_by_tag_total{tag=\"team-a\"} 2",
        ];
        Assert.Equal(expected, fromTail.Order(StringComparer.Ordinal)); // team-b is not listed: no series
    }

    [Fact]
    public async Task ASlotRowFoldedBeforeTheSpendReport_ReadsAsCostOnly_AndTheNextFoldIntoItKeepsIt()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var core = new InMemoryCore(tables, time);
        await core.StartAsync();
        var folder = core.Get<AggregateFolder>();
        await tables.Table(TableNames.Aggregates).CreateIfNotExistsAsync(CancellationToken.None);
        await tables.Table(TableNames.Aggregates).AddAsync(new Azure.Data.Tables.TableEntity(AggregateFolder.PartitionKey, "spend-202611281200")
        {
            ["Json"] = """{"alpha|gpt-4o-mini":5000,"beta|gpt-4.1":7}""",
        }, CancellationToken.None);

        await core.Get<RecordWriter>().WriteAsync(InMemoryCore.Record(Noon, costNanoUsd: 1_000));
        time.Advance(folder.Lag + TimeSpan.FromMinutes(1));
        Assert.Equal(1, await folder.FoldAsync(CancellationToken.None));

        var slot = Assert.Single(await folder.SlotsAsync(Noon.AddHours(-1), Noon.AddHours(1), CancellationToken.None).ToListAsync());
        Assert.Equal(6_000, slot.Usage[new LlmFunctions.Core.Spend.SpendKey("alpha", "gpt-4o-mini")].CostNanoUsd);
        Assert.Equal(1, slot.Usage[new LlmFunctions.Core.Spend.SpendKey("alpha", "gpt-4o-mini")].Calls); // the old row knew no calls
        Assert.Equal(7, slot.Usage[new LlmFunctions.Core.Spend.SpendKey("beta", "gpt-4.1")].CostNanoUsd);
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
