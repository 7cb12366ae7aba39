using System.Globalization;

namespace LlmFunctions.Core.Aggregation;

/// <summary>A budget's current day or month in its time zone, as UTC instants.</summary>
internal readonly record struct BudgetPeriod(string Kind, string Key, DateTimeOffset Start, DateTimeOffset End)
{
    /// <summary>
    /// The period containing <paramref name="now"/> in <paramref name="zone"/>. A local midnight that daylight
    /// saving skips starts the period at the first valid local time after it.
    /// </summary>
    public static BudgetPeriod Current(string kind, TimeZoneInfo zone, DateTimeOffset now)
    {
        var local = TimeZoneInfo.ConvertTime(now, zone).DateTime;
        var isMonth = string.Equals(kind, "month", StringComparison.OrdinalIgnoreCase);
        var startLocal = isMonth ? new DateTime(local.Year, local.Month, 1) : local.Date;
        var endLocal = isMonth ? startLocal.AddMonths(1) : startLocal.AddDays(1);
        var key = isMonth
            ? startLocal.ToString("yyyy-MM", CultureInfo.InvariantCulture)
            : startLocal.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        return new BudgetPeriod(isMonth ? "month" : "day", key, ToUtc(startLocal, zone), ToUtc(endLocal, zone));
    }

    /// <summary>A local time as UTC; a time daylight saving skips moves to the next valid quarter hour.</summary>
    internal static DateTimeOffset ToUtc(DateTime local, TimeZoneInfo zone)
    {
        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        while (zone.IsInvalidTime(local))
        {
            local = local.AddMinutes(15);
        }

        // An ambiguous local time (clocks going back) counts from its first occurrence.
        var offset = zone.IsAmbiguousTime(local) ? zone.GetAmbiguousTimeOffsets(local).Max() : zone.GetUtcOffset(local);
        return new DateTimeOffset(local, offset).ToUniversalTime();
    }
}
