using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Metrics;
using LlmFunctions.Core.Records;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Records;

/// <summary>
/// Issue 26 (5): records that reach storage after their minute was folded are still counted, once. An outage of ten
/// minutes (ten times the fold lag) spools 10,000 records; storage comes back, the fold runs first and passes their
/// minutes, and keeps running (the clock moving 5 s a step, minutes while the replay runs) while the replay writes them
/// in 250 transactions: the replay keys them under minutes the fold has not passed, re-keying as the fold catches up.
/// Once folded, each is counted once. (A read that mixes folded slots and the tail while such folds run was seen to count
/// one batch twice, 2 runs in 24: not diagnosed yet, so not asserted here; see the closing note of issue 26.)
/// </summary>
public sealed class LateRecordsTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 30, TimeSpan.Zero);

    [Fact]
    public async Task TenThousandRecordsReplayedAfterAnOutageLongerThanTheFoldLag_AreCountedOnce_FoldedOrNot()
    {
        var tables = new InMemoryTables { Down = true };
        var time = new FakeTimeProvider(Noon);
        await using var core = new InMemoryCore(tables, time, new() { ["Budgets:all:LimitUsd"] = "1000", ["Budgets:all:Action"] = "notify" });
        await core.StartAsync();
        var writer = core.Get<RecordWriter>();
        await core.AdvanceUntilAsync(writer.WriteAsync(InMemoryCore.Record(Noon, costNanoUsd: 1_000)), TimeSpan.FromMilliseconds(50));
        await Task.WhenAll(Enumerable.Range(0, 9_999).Select(_ => writer.WriteAsync(InMemoryCore.Record(Noon, costNanoUsd: 1_000))));
        Assert.Equal(10_000, writer.Spooled);

        time.Advance(TimeSpan.FromMinutes(10));
        tables.Down = false;
        var folder = core.Get<AggregateFolder>();
        await folder.FoldAsync(CancellationToken.None); // the fold passes every minute of the outage before the replay starts

        using var replaying = new CancellationTokenSource();
        var foldSteps = 0;
        var folding = Task.Run(async () =>
        {
            while (!replaying.IsCancellationRequested)
            {
                time.Advance(TimeSpan.FromSeconds(5));
                await folder.FoldAsync(CancellationToken.None);
                foldSteps++;
                await Task.Delay(1);
            }
        });
        // The hosted replayer runs too (the moving clock wakes it): a file it holds is skipped here, so pass until empty.
        var replayer = core.Hosted<SpoolReplayer>();
        var until = DateTime.UtcNow.AddSeconds(30);
        while (core.Get<RecordSpool>().Backlog > 0 && DateTime.UtcNow < until)
        {
            await replayer.ReplayOnceAsync(CancellationToken.None);
            await Task.Delay(10);
        }

        await replaying.CancelAsync();
        await folding;
        Assert.Equal(0, core.Get<RecordSpool>().Backlog);
        Assert.Equal(10_000, tables.EntitiesOf("LlmCalls").Select(e => e.RowKey).Distinct().Count());
        Assert.Equal(10_000, tables.EntitiesOf("LlmCalls").Count);

        // Counted once, all folded.
        var rollup = core.Get<BudgetRollup>();
        time.Advance(TimeSpan.FromMinutes(5));
        await folder.FoldAsync(CancellationToken.None);
        Assert.Equal(10_000_000, Assert.Single(await rollup.ComputeAsync(CancellationToken.None)).SpentNanoUsd);
        Assert.True(foldSteps > 0, "the fold never ran during the replay");
    }
}
