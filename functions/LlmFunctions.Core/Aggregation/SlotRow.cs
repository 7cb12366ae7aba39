using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Azure.Data.Tables;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Aggregation;

/// <summary>
/// A 15-minute slot's row in <c>LlmAggregates</c> (<c>spend-yyyyMMddHHmm</c>): the usage per <see cref="SpendKey"/> of
/// the records written in that slot, gzip'd JSON in binary chunks (<see cref="ChunkedJson"/>). Rows folded before the
/// spend report existed hold only nano-USD per <c>client|model</c> in a string column <c>Json</c>; they read as usage with
/// cost alone, so budgets keep their figures across the upgrade.
/// </summary>
internal static class SlotRow
{
    /// <summary>What a slot row's key starts with; the slot's minute follows.</summary>
    internal const string Prefix = "spend-";

    private const string LegacySpendColumn = "Json";

    /// <summary>The 15-minute UTC slot a time falls in (zones are offset by multiples of 15 minutes).</summary>
    internal static string SlotOf(DateTimeOffset t)
    {
        var u = t.UtcDateTime;
        var slot = new DateTime(u.Year, u.Month, u.Day, u.Hour, u.Minute / 15 * 15, 0, DateTimeKind.Utc);
        return slot.ToString(RecordKeys.MinuteFormat, CultureInfo.InvariantCulture);
    }

    public static TableEntity ToEntity(string rowKey, Dictionary<SpendKey, UsageSums> usage) =>
        ToEntity(StateRow.PartitionKey, rowKey, usage);

    /// <summary>A row of usage in any partition (a day's row, <see cref="DayRows"/>, has the slots' shape).</summary>
    public static TableEntity ToEntity(string partitionKey, string rowKey, Dictionary<SpendKey, UsageSums> usage) =>
        ChunkedJson.ToEntity(partitionKey, rowKey, usage, AggregateJsonContext.Default.DictionarySpendKeyUsageSums);

    /// <summary>The folded usage of each 15-minute UTC slot in [from, to) that has calls, in order: one row per slot.</summary>
    public static async IAsyncEnumerable<(DateTimeOffset Slot, Dictionary<SpendKey, UsageSums> Usage)> QueryAsync(ITable aggregates,
        DateTimeOffset from, DateTimeOffset to, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var query = new TableQuery
        {
            PartitionKey = StateRow.PartitionKey,
            RowKeyFrom = Prefix + SlotOf(from),
            RowKeyBefore = Prefix + SlotOf(to),
        };
        await foreach (var e in aggregates.QueryAsync(query, cancellationToken).ConfigureAwait(false))
        {
            yield return (RecordKeys.ParseMinute(e.RowKey[Prefix.Length..]), Usage(e));
        }
    }

    /// <summary>The first slot that has a row, or null.</summary>
    public static async Task<DateTimeOffset?> FirstAsync(ITable aggregates, CancellationToken cancellationToken)
    {
        // The keys between "spend" and "spend." are the slots' ('-' sorts right before '.').
        var query = new TableQuery { PartitionKey = StateRow.PartitionKey, RowKeyAfter = "spend", RowKeyBefore = "spend.", Take = 1 };
        await foreach (var e in aggregates.QueryAsync(query, cancellationToken).ConfigureAwait(false))
        {
            return RecordKeys.ParseMinute(e.RowKey[Prefix.Length..]);
        }

        return null;
    }

    public static Dictionary<SpendKey, UsageSums> Usage(TableEntity entity)
    {
        if (entity.GetString(LegacySpendColumn) is not { } legacy)
        {
            return ChunkedJson.FromEntity(entity, AggregateJsonContext.Default.DictionarySpendKeyUsageSums) ?? [];
        }

        var usage = new Dictionary<SpendKey, UsageSums>();
        foreach (var (key, nanoUsd) in JsonSerializer.Deserialize(legacy, AggregateJsonContext.Default.DictionaryStringInt64) ?? [])
        {
            usage[SpendKey.Parse(key)] = new UsageSums { CostNanoUsd = nanoUsd };
        }

        return usage;
    }
}
