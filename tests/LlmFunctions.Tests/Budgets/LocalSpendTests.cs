using LlmFunctions.Core.Budgets;

namespace LlmFunctions.Tests.Budgets;

/// <summary>This instance's spend since the last rollup: what counts, and that asking costs no scan per call.</summary>
public sealed class LocalSpendTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Since_CountsWhatBecameDurableAfterTheRollup_AndInThePeriod()
    {
        var spend = new LocalSpend();
        var periodStart = Noon.Date;
        spend.Add(Noon.AddSeconds(-10), 100); // before the rollup: the rollup counted it
        spend.Add(Noon.AddSeconds(5), 20);    // durable after it: the rollup missed it
        spend.Add(Noon.AddSeconds(6), 3);

        Assert.Equal(23, spend.Since(Noon, periodStart));

        spend.Add(Noon.AddSeconds(7), 4);     // after the baseline: counted without a rescan
        Assert.Equal(27, spend.Since(Noon, periodStart));

        // A later rollup moves the baseline; so does a period that starts after it.
        Assert.Equal(4, spend.Since(Noon.AddSeconds(7), periodStart));
        Assert.Equal(7, spend.Since(Noon.AddHours(-1), Noon.AddSeconds(6)));
        Assert.Equal(0, spend.Since(Noon, Noon.AddMinutes(1)));
    }

    /// <summary>
    /// Issue 27 (1): one time basis, the write. A stream from 23:58 that ends at 00:01 counts in the new day, as the
    /// fold counts it (this test asserted the opposite when budgets placed a call by its start and the fold by its write).
    /// </summary>
    [Fact]
    public void AStreamThatStartedBeforeThePeriod_AndWasWrittenInIt_CountsInTheNewPeriod()
    {
        var spend = new LocalSpend();
        var midnight = new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero);
        spend.Add(midnight.AddSeconds(-1), 9); // written at 23:59:59: the old day's
        Assert.Equal(0, spend.Since(midnight, midnight)); // a call checks at 00:00:02: the day's baseline

        spend.Add(midnight.AddMinutes(1), 50); // a stream from 23:58 ends at 00:01
        spend.Add(midnight.AddMinutes(1), 7);

        Assert.Equal(57, spend.Since(midnight, midnight));
    }

    [Fact]
    public void AskedAHundredThousandTimesForOneRollup_ComputesOneBaseline()
    {
        var spend = new LocalSpend();
        for (var i = 0; i < 100_000; i++)
        {
            spend.Add(Noon.AddMilliseconds(i), 1);
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
    public void CallsEndingInTheSameSecond_ShareOneSum()
    {
        var spend = new LocalSpend();
        for (var i = 0; i < 10_000; i++)
        {
            spend.Add(Noon.AddMilliseconds(i), 2); // 10 s of completions at 1,000/s
        }

        Assert.Equal(10, spend.Seconds);
        Assert.Equal(20_000, spend.Since(Noon, Noon.Date));
        Assert.Equal(2 * 5_000, spend.Since(Noon.AddSeconds(5), Noon.Date));
    }

    [Fact]
    public void RecordsOlderThanAnHour_AreForgotten()
    {
        var spend = new LocalSpend();
        spend.Add(Noon, 5);
        spend.Add(Noon.AddMinutes(61), 7);

        Assert.Equal(7, spend.Since(Noon.AddHours(-2), Noon.Date));
    }
}
