using LlmFunctions.Core.Metrics;
using LlmFunctions.Core.Records;
using LlmFunctions.Core.Spend;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Spend;

/// <summary>The spend report over in-memory tables on a fake clock: days in the budget zone, the same before and after a fold.</summary>
public sealed class SpendReportTests
{
    // 23:50 in Shanghai (UTC+8), ten minutes before its midnight.
    private static readonly DateTimeOffset BeforeLocalMidnight = new(2026, 11, 28, 15, 50, 30, TimeSpan.Zero);

    private static SpendQuery Query(DateOnly from, DateOnly to, SpendGrouping groupBy, SpendFilter? filter = null) =>
        new(from, to, groupBy, filter ?? new SpendFilter(null, null, null, null), Csv: false, Limit: 100, After: null);

    private static IEnumerable<string> Rows(SpendReportResult result) =>
        result.Rows.Select(r => $"{r.Period} {r.Client ?? "*"} {r.User ?? "*"} {r.Tag ?? "*"} {r.Sums.Calls} {r.Sums.CostNanoUsd}");

    [Fact]
    public async Task Days_AreTheBudgetZonesDays_AndAReportIsTheSameBeforeAndAfterTheFold()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(BeforeLocalMidnight);
        await using var core = new InMemoryCore(tables, time, new() { ["Budgets:TimeZone"] = "Asia/Shanghai" });
        await core.StartAsync();
        var writer = core.Get<RecordWriter>();
        await writer.WriteAsync(InMemoryCore.Record(time.GetUtcNow(), costNanoUsd: 1_000));
        time.Advance(TimeSpan.FromMinutes(20)); // 00:10 on the 29th in Shanghai, still the 28th in UTC
        var tagged = InMemoryCore.Record(time.GetUtcNow(), client: "beta", costNanoUsd: 2_000);
        (tagged.Tags, tagged.EndUser) = ("b,a", "u-1");
        await writer.WriteAsync(tagged);
        var report = core.Get<SpendReport>();
        var byDayAndTag = Query(new DateOnly(2026, 11, 28), new DateOnly(2026, 11, 29), SpendGrouping.Day | SpendGrouping.Tag);

        var beforeFold = await report.RunAsync(byDayAndTag, CancellationToken.None);
        time.Advance(core.Get<AggregateFolder>().Lag + TimeSpan.FromMinutes(1));
        await core.Get<AggregateFolder>().FoldAsync(CancellationToken.None); // the first report folded the first minute already
        Assert.Equal(2, (await core.Get<AggregateFolder>().LoadAsync(CancellationToken.None)).State!.FoldedRecords);
        var fromFold = await report.RunAsync(byDayAndTag, CancellationToken.None);

        string[] expected = ["2026-11-28 * *  1 1000", "2026-11-29 * * a 1 2000", "2026-11-29 * * b 1 2000"];
        Assert.Equal(expected, Rows(beforeFold));
        Assert.Equal(expected, Rows(fromFold));
        Assert.Equal((2, 3_000), (fromFold.Total.Calls, fromFold.Total.CostNanoUsd)); // the tagged call once in the total

        var the29th = await report.RunAsync(Query(new DateOnly(2026, 11, 29), new DateOnly(2026, 11, 29), SpendGrouping.Client | SpendGrouping.User),
            CancellationToken.None);
        Assert.Equal(["2026-11-29/2026-11-29 beta u-1 * 1 2000"], Rows(the29th));
        var filtered = await report.RunAsync(Query(new DateOnly(2026, 11, 28), new DateOnly(2026, 11, 29), SpendGrouping.Month,
            new SpendFilter("alpha", null, null, null)), CancellationToken.None);
        Assert.Equal(["2026-11 * * * 1 1000"], Rows(filtered));
    }

    /// <summary>
    /// A fold that commits while a report reads its slots would count its minutes twice (in a slot and in the tail):
    /// the report sees the watermark move and reads again only the slots from the one that held the old watermark.
    /// </summary>
    [Fact]
    public async Task AFoldDuringTheRead_CountsNothingTwice_AndOnlyTheMovedSlotsAreReadAgain()
    {
        var tables = new InMemoryTables();
        var noon = new DateTimeOffset(2026, 11, 28, 12, 0, 30, TimeSpan.Zero);
        var time = new FakeTimeProvider(noon);
        await using var a = new InMemoryCore(tables, time);
        await using var b = new InMemoryCore(tables, time);
        await a.StartAsync();
        await b.StartAsync();
        var writer = a.Get<RecordWriter>();
        await writer.WriteAsync(InMemoryCore.Record(time.GetUtcNow(), costNanoUsd: 1_000));       // 12:00, slot 12:00
        time.Advance(TimeSpan.FromMinutes(20));
        await writer.WriteAsync(InMemoryCore.Record(time.GetUtcNow(), costNanoUsd: 20_000));      // 12:20, slot 12:15
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(2, await a.Get<AggregateFolder>().FoldAsync(CancellationToken.None));        // watermark 12:21
        time.Advance(TimeSpan.FromMinutes(6));
        await writer.WriteAsync(InMemoryCore.Record(time.GetUtcNow(), costNanoUsd: 300_000));     // 12:28, slot 12:15, in the tail
        time.Advance(TimeSpan.FromMinutes(3));

        var slotReads = new List<string>();
        var folded = 0;
        tables.BeforeQuery = async (table, query) =>
        {
            if (table == TableNames.Aggregates && query.RowKeyFrom is { } from && from.StartsWith(AggregateFolder.SpendRowPrefix, StringComparison.Ordinal))
            {
                slotReads.Add(from);
                if (Interlocked.Exchange(ref folded, 1) == 0)
                {
                    Assert.Equal(1, await b.Get<AggregateFolder>().FoldAsync(CancellationToken.None)); // another instance folds 12:28 now
                }
            }
        };

        var day = new DateOnly(2026, 11, 28);
        var result = await a.Get<SpendReport>().RunAsync(Query(day, day, SpendGrouping.None), CancellationToken.None);

        Assert.Equal((3, 321_000), (result.Total.Calls, result.Total.CostNanoUsd));
        Assert.Equal(["spend-202611280000", "spend-202611281215"], slotReads);
    }
}
