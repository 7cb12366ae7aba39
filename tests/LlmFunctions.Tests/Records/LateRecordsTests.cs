using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Records;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Records;

/// <summary>
/// Issue 26 (5): records that reach storage after their minute was folded are still counted, once. An outage of ten
/// minutes (ten times the fold lag) spools 10,000 records; storage comes back, the fold runs first and passes their
/// minutes, and keeps running while the replay writes them in 250 transactions of 5 s each on the clock: the replay keys
/// them under minutes the fold has not passed, afresh as the fold catches up. Each is counted once, read from the tail
/// and the folded slots while folds run, and once all is folded. (The mixed read counted a 40-record batch twice in 2
/// runs of 24 before <see cref="SpoolReplayerTests"/>' fix.)
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
        await core.SpoolThroughOutageAsync(10_000, Noon, costNanoUsd: 1_000);
        Assert.Equal(10_000, core.Get<RecordWriter>().Spooled);

        time.Advance(TimeSpan.FromMinutes(10));

        // Each transaction of records takes 5 s of the clock: the replay's 250 outlast the fold lag four times over, and
        // folds run alongside it, so its first keys are passed long before it ends and it must key afresh. Set before
        // storage is back: the hosted replayer (the moving clock woke it) may start at once, and on a still clock it
        // wrote everything in one minute (seen once in a full run on a loaded machine).
        tables.BeforeWrite = table =>
        {
            if (table.StartsWith(TableNames.CallsPrefix, StringComparison.Ordinal))
            {
                time.Advance(TimeSpan.FromSeconds(5));
            }
        };
        tables.Down = false;
        var folder = core.Get<AggregateFolder>();
        await folder.FoldAsync(CancellationToken.None); // the fold passes every minute of the outage before the replay starts
        using var replaying = new CancellationTokenSource();
        var folding = Task.Run(async () =>
        {
            while (!replaying.IsCancellationRequested)
            {
                await folder.FoldAsync(CancellationToken.None);
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
        tables.BeforeWrite = null;
        Assert.Equal(0, core.Get<RecordSpool>().Backlog);
        Assert.Equal(10_000, tables.EntitiesOf("LlmCalls").Select(e => e.RowKey).Distinct().Count());
        Assert.Equal(10_000, tables.EntitiesOf("LlmCalls").Count);
        Assert.True(tables.EntitiesOf("LlmCalls").Select(e => e.PartitionKey[..12]).Distinct().Count() >= 4, "the replay never keyed afresh");

        // Counted once, read from the tail and the folded slots, then all folded.
        var rollup = core.Get<BudgetSpend>();
        Assert.Equal(10_000_000, Assert.Single(await rollup.ComputeAsync(CancellationToken.None)).SpentNanoUsd);
        time.Advance(TimeSpan.FromMinutes(5));
        await folder.FoldAsync(CancellationToken.None);
        Assert.Equal(10_000_000, Assert.Single(await rollup.ComputeAsync(CancellationToken.None)).SpentNanoUsd);
    }
}
