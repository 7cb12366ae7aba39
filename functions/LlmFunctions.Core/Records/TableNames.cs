using System.Globalization;

namespace LlmFunctions.Core.Records;

/// <summary>
/// The tables the app uses. Call records go to one table per UTC day of their write minute,
/// <c>LlmCallsyyyyMMdd</c>, which the app creates on first write; Bicep creates the others.
/// <para>Why daily tables: Azure Table Storage has no time-to-live, and deleting a day of records entity by entity
/// costs one transaction per 100 records, where dropping its table is one call (the "high-volume delete" pattern of
/// the Table design guide; see <see cref="StorageOptions.RetentionDays"/>). Reads stay PartitionKey ranges, so
/// nothing else changes — and on Azurite, which evaluates every query by scanning the whole table, a scrape's cost
/// is bounded by one day's records instead of the whole history.</para>
/// </summary>
internal static class TableNames
{
    public const string CallsPrefix = "LlmCalls";
    public const string Aggregates = "LlmAggregates";
    public const string Rollups = "LlmRollups";
    public const string BudgetEvents = "LlmBudgetEvents";

    /// <summary>Each instance's running sums of what it wrote per minute, which a scrape reads for unfolded minutes.</summary>
    public const string Tail = "LlmTail";

    /// <summary>Virtual keys (their hashes and limits), their names, the change log instances refresh from, and the audit.</summary>
    public const string Keys = "LlmKeys";

    private const string DayFormat = "yyyyMMdd";

    /// <summary>The tables created once at startup (the daily call tables are created on first write).</summary>
    public static readonly string[] Fixed = [Aggregates, Rollups, BudgetEvents, Tail, Keys];

    /// <summary>The call table a record with this PartitionKey (or minute, <c>yyyyMMddHHmm…</c>) belongs to.</summary>
    public static string CallsFor(string partitionKeyOrMinute) => string.Concat(CallsPrefix, partitionKeyOrMinute.AsSpan(0, DayFormat.Length));

    public static string CallsFor(DateOnly day) => CallsPrefix + day.ToString(DayFormat, CultureInfo.InvariantCulture);

    /// <summary>The UTC day of a call table, or false for any other table.</summary>
    public static bool TryParseCallsDay(string tableName, out DateOnly day)
    {
        day = default;
        return tableName.Length == CallsPrefix.Length + DayFormat.Length
            && tableName.StartsWith(CallsPrefix, StringComparison.Ordinal)
            && DateOnly.TryParseExact(tableName.AsSpan(CallsPrefix.Length), DayFormat, CultureInfo.InvariantCulture, DateTimeStyles.None, out day);
    }
}
