using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Aggregation;

/// <summary>What the aggregates hold at one read: the folded state plus the tail of what is not folded yet.</summary>
/// <param name="TailReadAt">Records committed to the table before this time are in the snapshot (the tail's read less
/// the longest an instance takes to publish its sums).</param>
internal sealed record AggregateSnapshot(AggregateState State, long UnfoldedRecords, TimeSpan? NewestFoldedAge, DateTimeOffset TailReadAt)
{
    /// <summary>The first minute not folded: the tail covers it and every later one.</summary>
    public string Watermark { get; init; } = "";

    /// <summary>The tail's usage per write minute (<c>yyyyMMddHHmm</c>), from <see cref="Watermark"/> on.</summary>
    public IReadOnlyDictionary<string, Dictionary<SpendKey, UsageSums>> TailUsage { get; init; } =
        new Dictionary<string, Dictionary<SpendKey, UsageSums>>();

    /// <summary>
    /// Adds the tail's spend written from <paramref name="start"/> on to <paramref name="spend"/>: exact for a start
    /// on a whole minute, as every period's is (local midnight, or the first valid quarter hour after a skipped one).
    /// </summary>
    public void AddTailSpendSince(DateTimeOffset start, Dictionary<SpendKey, long> spend)
    {
        var first = RecordKeys.Minute(start.AddTicks(TimeSpan.TicksPerMinute - 1));
        foreach (var (minute, usage) in TailUsage)
        {
            if (string.CompareOrdinal(minute, first) >= 0)
            {
                UsageSums.AddCosts(spend, usage);
            }
        }
    }
}
