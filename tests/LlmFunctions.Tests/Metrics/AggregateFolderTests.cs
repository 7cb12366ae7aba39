using LlmFunctions.Core.Aggregation;
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
        var reader = core.Get<AggregateReader>();
        await Task.WhenAll(Enumerable.Range(0, 30).Select(i => writer.WriteAsync(InMemoryCore.Record(Noon, costNanoUsd: 1_000 + i))));

        // Within the lag the minute is not folded: another instance may still commit into it.
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(0, await folder.FoldAsync(CancellationToken.None));

        time.Advance(folder.Lag + TimeSpan.FromMinutes(1));
        Assert.Equal(30, await folder.FoldAsync(CancellationToken.None));
        Assert.Equal(0, await folder.FoldAsync(CancellationToken.None));

        var (state, _) = await reader.LoadAsync(CancellationToken.None);
        Assert.Equal(30, state!.FoldedRecords);
        Assert.True(string.CompareOrdinal(state.Watermark, RecordKeys.Minute(Noon)) > 0, state.Watermark);
        var spend = await reader.SpendAsync(Noon.AddMinutes(-1), Noon.AddMinutes(15), CancellationToken.None);
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
        var reader = core.Get<AggregateReader>();
        foreach (var tags in new[] { "batch,team-a", "team-a", "team-b", "" })
        {
            var record = InMemoryCore.Record(Noon, costNanoUsd: 1_000_000);
            record.Tags = tags;
            await writer.WriteAsync(record);
        }

        async Task<string[]> TagLinesAsync()
        {
            using var stream = new MemoryStream();
            await MetricsRenderer.RenderAsync(stream, await reader.SnapshotAsync(CancellationToken.None), [], default, CancellationToken.None);
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
        var reader = core.Get<AggregateReader>();
        await tables.Table(TableNames.Aggregates).CreateIfNotExistsAsync(CancellationToken.None);
        await tables.Table(TableNames.Aggregates).AddAsync(new Azure.Data.Tables.TableEntity(StateRow.PartitionKey, "spend-202611281200")
        {
            ["Json"] = """{"alpha|gpt-4o-mini":5000,"beta|gpt-4.1":7}""",
        }, CancellationToken.None);

        await core.Get<RecordWriter>().WriteAsync(InMemoryCore.Record(Noon, costNanoUsd: 1_000));
        time.Advance(folder.Lag + TimeSpan.FromMinutes(1));
        Assert.Equal(1, await folder.FoldAsync(CancellationToken.None));

        var slot = Assert.Single(await reader.SlotsAsync(Noon.AddHours(-1), Noon.AddHours(1), CancellationToken.None).ToListAsync());
        Assert.Equal(6_000, slot.Usage[new SpendKey("alpha", "gpt-4o-mini")].CostNanoUsd);
        Assert.Equal(1, slot.Usage[new SpendKey("alpha", "gpt-4o-mini")].Calls); // the old row knew no calls
        Assert.Equal(7, slot.Usage[new SpendKey("beta", "gpt-4.1")].CostNanoUsd);
    }

    [Fact]
    public async Task TwoInstancesFoldingAtOnce_CountEachRecordOnce()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tables, time);
        await using var b = new InMemoryCore(tables, time);
        await FiveFoldableMinutesAsync(time, i => i % 2 == 0 ? a : b);
        var both = Task.WhenAll(a.Get<AggregateFolder>().FoldAsync(CancellationToken.None), b.Get<AggregateFolder>().FoldAsync(CancellationToken.None));
        await a.AdvanceUntilAsync(both, TimeSpan.FromMilliseconds(10)); // the loser of a conflict backs off on the clock
        var folded = await both;

        Assert.Equal(100, folded.Sum());
        var (state, _) = await a.Get<AggregateReader>().LoadAsync(CancellationToken.None);
        Assert.Equal(100, state!.FoldedRecords);
    }

    /// <summary>
    /// A step that lost to another instance's commit (the state row changed since it was read) runs again, after its
    /// pause on the clock, on the state that commit left: it folds the rest, and nothing twice.
    /// </summary>
    [Fact]
    public async Task AStepThatLostToAnotherFold_RunsAgainFromWhereThatFoldLeftOff()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var a = new InMemoryCore(tables, time);
        await using var b = new InMemoryCore(tables, time);
        await FiveFoldableMinutesAsync(time, _ => a, b);
        // Right before a commits its step over the five minutes, b folds the first one (a step of at most 20 records).
        var other = b.Get<AggregateFolder>();
        other.MaxRecordsPerStep = 20;
        var raced = 0;
        tables.BeforeWrite = table =>
        {
            if (table == TableNames.Aggregates && Interlocked.Exchange(ref raced, 1) == 0)
            {
                Assert.Equal((20, false, true), other.FoldStepAsync(CancellationToken.None).GetAwaiter().GetResult());
            }
        };

        var fold = a.Get<AggregateFolder>().FoldAsync(CancellationToken.None);
        await a.AdvanceUntilAsync(fold, TimeSpan.FromMilliseconds(10)); // the step that lost pauses on the clock

        Assert.Equal(80, await fold);
        var (state, _) = await a.Get<AggregateReader>().LoadAsync(CancellationToken.None);
        Assert.Equal(100, state!.FoldedRecords);
    }

    /// <summary>
    /// Callers name users and tags, so a flood of new ones must not grow a slot row or a tail row past what an entity
    /// or a fold transaction holds (the fold would then fail on the same step forever). Past the bound, new users and
    /// tags sum under "(other)"; totals stay exact, and so does the spend of a user a budget names.
    /// </summary>
    [Fact]
    public async Task AFloodOfNewUsersAndTags_IsBounded_AndTheFoldKeepsMoving_WithExactTotalsAndBudgetedUsers()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var core = new InMemoryCore(tables, time, new()
        {
            ["Budgets:vip:Scope"] = "user:vip", ["Budgets:vip:LimitUsd"] = "100", ["Budgets:team:Scope"] = "tag:team-a", ["Budgets:team:LimitUsd"] = "100",
        });
        await core.StartAsync();
        var writer = core.Get<RecordWriter>();
        var folder = core.Get<AggregateFolder>();
        var reader = core.Get<AggregateReader>();
        const int Slots = 3, UsersPerSlot = 5_000;
        long total = 0, vip = 0, teamA = 0;
        for (var slot = 0; slot < Slots; slot++)
        {
            var slotStart = time.GetUtcNow();
            foreach (var chunk in Enumerable.Range(0, UsersPerSlot + 10).Chunk(1_000))
            {
                time.Advance(TimeSpan.FromMinutes(1)); // five minutes of the slot, so the slot row holds more than a minute's bound

                await Task.WhenAll(chunk.Select(i =>
                {
                    var r = InMemoryCore.Record(time.GetUtcNow(), costNanoUsd: 1_000 + i);
                    r.EndUser = i >= UsersPerSlot
                        ? "vip"
                        : $"user-{slot}-{i}-" + string.Concat(Enumerable.Range(0, 5).Select(_ => Guid.NewGuid().ToString("N")));
                    r.Tags = i % 3 == 0 ? $"team-a,t{slot}-{i}" : $"t{slot}-{i}";
                    total += r.CostNanoUsd;
                    vip += r.EndUser == "vip" ? r.CostNanoUsd : 0;
                    teamA += i % 3 == 0 ? r.CostNanoUsd : 0;
                    return writer.WriteAsync(r);
                }));
            }

            time.Advance(slotStart.AddMinutes(15) - time.GetUtcNow());
        }

        // The tail rows fit: this instance writes its sums, and a scrape reads them all.
        var tail = core.Get<TailSummaries>();
        await tail.FlushAsync(CancellationToken.None);
        var minutes = await tail.ReadAsync("", CancellationToken.None);
        Assert.Equal(total, minutes.Values.SelectMany(d => d.Usage.Values).Sum(s => s.CostNanoUsd));
        Assert.Equal(vip, minutes.Values.SelectMany(d => d.Usage).Where(p => p.Key.User == "vip").Sum(p => p.Value.CostNanoUsd));

        // The fold ends a step by bytes: three full slots do not go in one transaction.
        var first = await folder.FoldStepAsync(CancellationToken.None);
        Assert.True(first.More, $"{first}");
        Assert.InRange(first.Folded, 1, (Slots - 1) * (UsersPerSlot + 10));
        await folder.FoldAsync(CancellationToken.None);
        var (state, _) = await reader.LoadAsync(CancellationToken.None);
        Assert.Equal(Slots * (UsersPerSlot + 10), state!.FoldedRecords);

        var slots = await reader.SlotsAsync(Noon.AddHours(-1), Noon.AddHours(2), CancellationToken.None).ToListAsync();
        Assert.Equal(Slots, slots.Count);
        var keys = slots.SelectMany(s => s.Usage).ToList();
        Assert.Equal(total, keys.Sum(p => p.Value.CostNanoUsd));
        Assert.Equal(vip, keys.Where(p => p.Key.User == "vip").Sum(p => p.Value.CostNanoUsd));
        Assert.Equal(teamA, keys.Where(p => p.Key.HasTag("team-a")).Sum(p => p.Value.CostNanoUsd));
        Assert.Contains(keys, p => p.Key.User == SpendKeyLimit.Other && p.Key.Tags.Contains(SpendKeyLimit.Other, StringComparison.Ordinal));
        Assert.All(slots, s => Assert.InRange(SpendKeyLimit.Bytes(s.Usage), 1, SpendKeyLimit.MaxRowBytes + 10_000));
    }

    /// <summary>Callers choose model names too: a minute of thousands of them must not stop the tail's flush or the scrape.</summary>
    [Fact]
    public async Task AFloodOfModelNames_DoesNotStopTheTailOrTheScrape_AndTheFoldCountsThem()
    {
        var tables = new InMemoryTables();
        var time = new FakeTimeProvider(Noon);
        await using var core = new InMemoryCore(tables, time);
        await core.StartAsync();
        var writer = core.Get<RecordWriter>();
        const int Models = 20_000;
        foreach (var chunk in Enumerable.Range(0, Models).Chunk(1_000))
        {
            var models = chunk.Select(_ => "m-" + Guid.NewGuid().ToString("N") + Guid.NewGuid().ToString("N"));
            await Task.WhenAll(models.Select(model => writer.WriteAsync(InMemoryCore.Record(Noon, model: model, costNanoUsd: 1_000))));
        }

        await core.Get<TailSummaries>().FlushAsync(CancellationToken.None); // too big for an entity: logged, not thrown

        // The scrape while the minute is only in the tail: it answers, and counts no more than was spent.
        var folder = core.Get<AggregateFolder>();
        var reader = core.Get<AggregateReader>();
        using (var tailScrape = new MemoryStream())
        {
            await MetricsRenderer.RenderAsync(tailScrape, await reader.SnapshotAsync(CancellationToken.None), [], default, CancellationToken.None);
            var fromTail = MetricsTestsValue(System.Text.Encoding.UTF8.GetString(tailScrape.ToArray()), "api_cost_usd_total");
            Assert.InRange(fromTail, 0, 0.02);
        }

        time.Advance(core.Get<AggregateFolder>().Lag + TimeSpan.FromMinutes(1));
        await folder.FoldAsync(CancellationToken.None);
        using var stream = new MemoryStream();
        await MetricsRenderer.RenderAsync(stream, await reader.SnapshotAsync(CancellationToken.None), [], default, CancellationToken.None);
        var text = System.Text.Encoding.UTF8.GetString(stream.ToArray());
        Assert.Contains("api_cost_usd_total 0.02\n", text, StringComparison.Ordinal);
        var slots = await reader.SlotsAsync(Noon.AddHours(-1), Noon.AddHours(1), CancellationToken.None).ToListAsync();
        Assert.Equal(Models * 1_000L, slots.SelectMany(s => s.Usage.Values).Sum(u => u.CostNanoUsd));
    }

    private static double MetricsTestsValue(string exposition, string series) => Integration.MetricsTests.Value(exposition, series);

    /// <summary>
    /// Starts the instances and writes five minutes of 20 records each (record i through <paramref name="writerOf"/>),
    /// then moves the clock past the fold lag, so that all five minutes are foldable.
    /// </summary>
    private static async Task FiveFoldableMinutesAsync(FakeTimeProvider time, Func<int, InMemoryCore> writerOf, params InMemoryCore[] others)
    {
        foreach (var core in Enumerable.Range(0, 20).Select(writerOf).Concat(others).Distinct())
        {
            await core.StartAsync();
        }

        for (var minute = 0; minute < 5; minute++)
        {
            await Task.WhenAll(Enumerable.Range(0, 20).Select(i => writerOf(i).Get<RecordWriter>().WriteAsync(InMemoryCore.Record(time.GetUtcNow()))));
            time.Advance(TimeSpan.FromMinutes(1));
        }

        time.Advance(TimeSpan.FromMinutes(2));
    }
}
