using LlmFunctions.Core.Aggregation;
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
        Assert.Equal(2, (await core.Get<AggregateReader>().LoadAsync(CancellationToken.None)).State!.FoldedRecords);
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
            if (table == TableNames.Aggregates && query.RowKeyFrom is { } from && from.StartsWith(SlotRow.Prefix, StringComparison.Ordinal))
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

    /// <summary>
    /// Issue 25: a year's report read every 15-minute slot of the year (35,040 rows) from the partition that folds and
    /// scrapes. Closed days now have a row each (<see cref="DayRows"/>): the same figures from a row a day plus the open
    /// day's slots, in the budget zone, also across daylight saving's 23- and 25-hour days.
    /// </summary>
    [Theory]
    [InlineData("UTC")]
    [InlineData("America/New_York")]
    public async Task AYearsReport_ReadsARowPerClosedDay_NotEverySlot_WithTheSameFigures(string zone)
    {
        var tables = new InMemoryTables();
        var now = new DateTimeOffset(2026, 11, 28, 12, 0, 30, TimeSpan.Zero);
        await using var core = new InMemoryCore(tables, new FakeTimeProvider(now), new()
        {
            ["Budgets:TimeZone"] = zone, ["Budgets:monthly:Period"] = "month", ["Budgets:monthly:LimitUsd"] = "1000", ["Budgets:monthly:Action"] = "notify",
        });
        var folder = core.Get<AggregateFolder>();
        await folder.FoldAsync(CancellationToken.None); // the state, its watermark at the foldable minute
        var watermark = (await core.Get<AggregateReader>().LoadAsync(CancellationToken.None)).State!.Watermark;
        var aggregates = core.Get<TableStore>().Aggregates;
        var slots = 0;
        for (var slot = RecordKeys.ParseMinute(SlotRow.SlotOf(now.AddDays(-366))); slot < now.AddMinutes(-15); slot = slot.AddMinutes(15), slots++)
        {
            var usage = new Dictionary<SpendKey, UsageSums> { [new SpendKey("alpha", "gpt-4o-mini")] = new() { Calls = 1, CostNanoUsd = 1_000 } };
            await aggregates.UpsertAsync(SlotRow.ToEntity(SlotRow.Prefix + SlotRow.SlotOf(slot), usage), CancellationToken.None);
        }

        var report = core.Get<SpendReport>();
        var year = Query(report.Today.AddDays(-365), report.Today, SpendGrouping.Day);
        var month = Query(report.Today.AddDays(-365), report.Today, SpendGrouping.Month | SpendGrouping.Client);

        var scanned = tables.ScannedRows;
        var fromSlots = (Year: Rows(await report.RunAsync(year, CancellationToken.None)).ToList(), Month: Rows(await report.RunAsync(month, CancellationToken.None)).ToList());
        var slotReads = tables.ScannedRows - scanned;
        var monthFromSlots = Assert.Single(await core.Get<Core.Budgets.BudgetSpend>().ComputeAsync(CancellationToken.None)).SpentNanoUsd;
        var days = core.Get<DayRows>();
        while (await days.BuildAsync(watermark, CancellationToken.None) > 0)
        {
        }

        scanned = tables.ScannedRows;
        var fromDays = (Year: Rows(await report.RunAsync(year, CancellationToken.None)).ToList(), Month: Rows(await report.RunAsync(month, CancellationToken.None)).ToList());
        var dayReads = tables.ScannedRows - scanned;
        var monthFromDays = Assert.Single(await core.Get<Core.Budgets.BudgetSpend>().ComputeAsync(CancellationToken.None)).SpentNanoUsd;

        Assert.Equal(fromSlots.Year, fromDays.Year);
        Assert.Equal(fromSlots.Month, fromDays.Month);
        Assert.Equal(366, fromDays.Year.Count);
        Assert.Equal(monthFromSlots, monthFromDays); // the month's budget rollup reads the same day rows
        Assert.True(monthFromDays > 2_000 * 1_000, $"{monthFromDays}: the month's spend should span its days");
        Assert.InRange(slotReads, 2 * 34_000, 2 * slots); // both reports read every slot of the year
        Assert.InRange(dayReads, 2 * 365, 2 * (366 + 100 + 10)); // a row a day, the open day's slots, a few point reads
    }
}
