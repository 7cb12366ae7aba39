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
    public void AStreamThatStartedBeforeThePeriod_AndEndsAfterTheBaseline_IsNotCountedInTheNewPeriod()
    {
        var spend = new LocalSpend();
        var midnight = new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(0, spend.Since(midnight, midnight)); // a call checks at 00:00:02: the day's baseline

        spend.Add(midnight.AddMinutes(1), midnight.AddMinutes(-2), 50); // a stream from 23:58 ends at 00:01
        spend.Add(midnight.AddMinutes(1), midnight.AddSeconds(30), 7);

        Assert.Equal(7, spend.Since(midnight, midnight));
    }

    [Fact]
    public void AskedAHundredThousandTimesForOneRollup_ComputesOneBaseline()
    {
        var spend = new LocalSpend();
        for (var i = 0; i < 100_000; i++)
        {
            spend.Add(Noon.AddMilliseconds(i), Noon.AddMilliseconds(i), 1);
        }

        long seen = 0;
        for (var i = 0; i < 100_000; i++)
        {
            seen = spend.Since(Noon.AddSeconds(50), Noon.Date);
        }

        Assert.Equal(50_000, seen);
        Assert.Equal(1, spend.BaselinesComputed);
        Assert.Equal(40_000, spend.Since(Noon.AddSeconds(60), Noon.Date)); // a new rollup: one more baseline
        Assert.Equal(2, spend.BaselinesComputed);
    }

    [Fact]
    public void StreamsStartedInDifferentMinutes_EndingInTheSameSecond_ShareOneSum()
    {
        var spend = new LocalSpend();
        for (var i = 0; i < 10_000; i++)
        {
            // 10 s of completions at 1,000/s from calls that started up to two minutes earlier, interleaved.
            var durable = Noon.AddMilliseconds(i);
            spend.Add(durable, durable.AddMinutes(-(i % 3)), 2);
        }

        Assert.Equal(10, spend.Seconds);
        Assert.Equal(20_000, spend.Since(Noon, Noon.Date));
        Assert.Equal(2 * 3_334, spend.Since(Noon, Noon)); // only the calls that started at or after 12:00
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
