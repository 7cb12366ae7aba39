using LlmFunctions.Core.Budgets;

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
    public void Day_Berlin_FallBack_Has25Hours()
    {
        var p = BudgetPeriod.Current("day", Zone("Europe/Berlin"), new DateTimeOffset(2026, 10, 25, 12, 0, 0, TimeSpan.Zero));
        Assert.Equal(TimeSpan.FromHours(25), p.End - p.Start);
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
    public void Month_December_RollsIntoJanuary()
    {
        var p = BudgetPeriod.Current("month", TimeZoneInfo.Utc, new DateTimeOffset(2026, 12, 31, 23, 0, 0, TimeSpan.Zero));
        Assert.Equal(new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero), p.End);
    }
}
