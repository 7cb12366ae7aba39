using LlmFunctions.Core.Aggregation;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Budgets;

public sealed class BudgetPeriodTests
{
    private static TimeZoneInfo Zone(string id) => TimeZoneInfo.FindSystemTimeZoneById(id);

    [Fact]
    public void Day_Utc_IsMidnightToMidnight()
    {
        var p = BudgetPeriod.Current("day", TimeZoneInfo.Utc, new DateTimeOffset(2026, 11, 27, 23, 59, 59, TimeSpan.Zero));
        Assert.Equal("2026-11-27", p.Key);
        Assert.Equal(new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero), p.Start);
        Assert.Equal(new DateTimeOffset(2026, 11, 28, 0, 0, 0, TimeSpan.Zero), p.End);
    }

    [Fact]
    public void Day_Shanghai_StartsAt16Utc()
    {
        // 16:30 UTC is 00:30 the next day in Shanghai (UTC+8).
        var p = BudgetPeriod.Current("day", Zone("Asia/Shanghai"), new DateTimeOffset(2026, 11, 27, 16, 30, 0, TimeSpan.Zero));
        Assert.Equal("2026-11-28", p.Key);
        Assert.Equal(new DateTimeOffset(2026, 11, 27, 16, 0, 0, TimeSpan.Zero), p.Start);
        Assert.Equal(TimeSpan.FromHours(24), p.End - p.Start);
    }

    [Fact]
    public void Day_Berlin_SpringForward_Has23Hours()
    {
        var p = BudgetPeriod.Current("day", Zone("Europe/Berlin"), new DateTimeOffset(2026, 3, 29, 12, 0, 0, TimeSpan.Zero));
        Assert.Equal("2026-03-29", p.Key);
        Assert.Equal(new DateTimeOffset(2026, 3, 28, 23, 0, 0, TimeSpan.Zero), p.Start);
        Assert.Equal(TimeSpan.FromHours(23), p.End - p.Start);
    }

    [Fact]
    public void Month_Rollover_InShanghai()
    {
        // 2026-11-30 16:00 UTC is 2026-12-01 00:00 in Shanghai: a new month there.
        var before = BudgetPeriod.Current("month", Zone("Asia/Shanghai"), new DateTimeOffset(2026, 11, 30, 15, 59, 59, TimeSpan.Zero));
        var after = BudgetPeriod.Current("month", Zone("Asia/Shanghai"), new DateTimeOffset(2026, 11, 30, 16, 0, 0, TimeSpan.Zero));
        Assert.Equal("2026-11", before.Key);
        Assert.Equal("2026-12", after.Key);
        Assert.Equal(after.Start, before.End);
        Assert.Equal(new DateTimeOffset(2026, 10, 31, 16, 0, 0, TimeSpan.Zero), before.Start);
    }

    [Fact]
    public void FakeClock_BerlinDaylightSavingNight_KeepsOneDay()
    {
        // 2026-10-25: Berlin goes from UTC+2 to UTC+1 at 01:00 UTC; the local day runs 22:00 UTC → 23:00 UTC next day.
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 10, 24, 22, 30, 0, TimeSpan.Zero));
        var berlin = Zone("Europe/Berlin");
        var first = BudgetPeriod.Current("day", berlin, clock.GetUtcNow());
        clock.Advance(TimeSpan.FromHours(24));
        var later = BudgetPeriod.Current("day", berlin, clock.GetUtcNow());

        Assert.Equal(first, later);
        Assert.Equal(new DateTimeOffset(2026, 10, 24, 22, 0, 0, TimeSpan.Zero), first.Start);
        Assert.Equal(new DateTimeOffset(2026, 10, 25, 23, 0, 0, TimeSpan.Zero), first.End);
    }

    [Fact]
    public void Month_December_RollsIntoJanuary()
    {
        var p = BudgetPeriod.Current("month", TimeZoneInfo.Utc, new DateTimeOffset(2026, 12, 31, 23, 0, 0, TimeSpan.Zero));
        Assert.Equal(new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero), p.End);
    }

    [Fact]
    public void NewYorkSpringForwardDay_Is23Hours_AndItsFallBackDay25()
    {
        var newYork = Zone("America/New_York");

        // 2026-03-08: clocks go from 02:00 to 03:00 (UTC−5 → UTC−4); 2026-11-01: from 02:00 back to 01:00.
        var spring = BudgetPeriod.Current("day", newYork, new DateTimeOffset(2026, 3, 8, 12, 0, 0, TimeSpan.Zero));
        var fall = BudgetPeriod.Current("day", newYork, new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero));

        Assert.Equal(("2026-03-08", TimeSpan.FromHours(23)), (spring.Key, spring.End - spring.Start));
        Assert.Equal(new DateTimeOffset(2026, 3, 8, 5, 0, 0, TimeSpan.Zero), spring.Start);
        Assert.Equal(("2026-11-01", TimeSpan.FromHours(25)), (fall.Key, fall.End - fall.Start));
    }

    [Theory]
    [InlineData(2026, 3)] // February of a common year ends on the 28th
    [InlineData(2028, 3)] // and of a leap year on the 29th
    public void February_EndsAtTheFirstOfMarch_InTheBudgetZone(int year, int nextMonth)
    {
        var shanghai = Zone("Asia/Shanghai");
        var lastDay = DateTime.IsLeapYear(year) ? 29 : 28;

        // 23:59:59 on the last day in Shanghai is 15:59:59 UTC; a second later it is March there.
        var before = BudgetPeriod.Current("month", shanghai, new DateTimeOffset(year, 2, lastDay, 15, 59, 59, TimeSpan.Zero));
        var after = BudgetPeriod.Current("month", shanghai, new DateTimeOffset(year, 2, lastDay, 16, 0, 0, TimeSpan.Zero));

        Assert.Equal($"{year}-02", before.Key);
        Assert.Equal($"{year}-{nextMonth:D2}", after.Key);
        Assert.Equal(after.Start, before.End);
        Assert.Equal(new DateTimeOffset(year, 2, lastDay, 16, 0, 0, TimeSpan.Zero), before.End);
    }

    [Fact]
    public void AMonthWithADaylightSavingChange_StartsAndEndsAtLocalMidnight()
    {
        var p = BudgetPeriod.Current("month", Zone("America/New_York"), new DateTimeOffset(2026, 3, 15, 12, 0, 0, TimeSpan.Zero));

        Assert.Equal(new DateTimeOffset(2026, 3, 1, 5, 0, 0, TimeSpan.Zero), p.Start); // EST
        Assert.Equal(new DateTimeOffset(2026, 4, 1, 4, 0, 0, TimeSpan.Zero), p.End);   // EDT
    }
}
