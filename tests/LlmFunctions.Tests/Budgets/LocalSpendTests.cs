using System.Diagnostics;
using LlmFunctions.Core.Budgets;

namespace LlmFunctions.Tests.Budgets;

/// <summary>This instance's spend since the last rollup: what counts, and that asking costs no scan per call.</summary>
public sealed class LocalSpendTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Since_CountsWhatBecameDurableAfterTheRollup_ForCallsStartedInThePeriod()
    {
        var spend = new LocalSpend();
        var periodStart = Noon.Date;
        spend.Add(Noon.AddSeconds(-10), Noon.AddSeconds(-12), 100); // before the rollup: the rollup counted it
        spend.Add(Noon.AddSeconds(5), Noon.AddSeconds(-3), 20);     // started before, durable after: the rollup missed it
        spend.Add(Noon.AddSeconds(6), Noon.AddSeconds(6), 3);

        Assert.Equal(23, spend.Since(Noon, periodStart));

        spend.Add(Noon.AddSeconds(7), Noon.AddSeconds(7), 4);       // after the baseline: counted without a rescan
        Assert.Equal(27, spend.Since(Noon, periodStart));

        // A later rollup moves the baseline; a new period (on a whole minute) leaves out calls started in the old one.
        Assert.Equal(4, spend.Since(Noon.AddSeconds(7), periodStart));
        Assert.Equal(7, spend.Since(Noon, Noon));
        Assert.Equal(0, spend.Since(Noon, Noon.AddMinutes(1)));
    }

    [Fact]
    public void Since_WithAHundredThousandRecords_AnswersAHundredThousandCallsWithoutScanningEach()
    {
        var spend = new LocalSpend();
        for (var i = 0; i < 100_000; i++)
        {
            spend.Add(Noon.AddMilliseconds(i), Noon.AddMilliseconds(i), 1);
        }

        var clock = Stopwatch.StartNew();
        long seen = 0;
        for (var i = 0; i < 100_000; i++)
        {
            seen = spend.Since(Noon.AddSeconds(50), Noon.Date);
        }

        // A scan per call would be 10^10 steps (minutes); one scan per baseline is milliseconds.
        Assert.Equal(50_000, seen);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"100,000 budget checks took {clock.Elapsed}");
    }

    [Fact]
    public void ARecordPerCall_IsKeptAsOneSumPerSecond()
    {
        var spend = new LocalSpend();
        for (var i = 0; i < 10_000; i++)
        {
            spend.Add(Noon.AddMilliseconds(i), Noon.AddMilliseconds(i), 2); // 10 s of calls
        }

        Assert.Equal(10, spend.Buckets);
        Assert.Equal(20_000, spend.Since(Noon, Noon.Date));
    }

    [Fact]
    public void RecordsOlderThanAnHour_AreForgotten()
    {
        var spend = new LocalSpend();
        spend.Add(Noon, Noon, 5);
        spend.Add(Noon.AddMinutes(61), Noon.AddMinutes(61), 7);

        Assert.Equal(7, spend.Since(Noon.AddHours(-2), Noon.Date));
    }
}
