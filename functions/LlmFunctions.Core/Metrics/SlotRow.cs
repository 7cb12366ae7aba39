using System.Text.Json;
using Azure.Data.Tables;
using LlmFunctions.Core.Spend;

namespace LlmFunctions.Core.Metrics;

/// <summary>
/// A 15-minute slot's row in <c>LlmAggregates</c> (<c>spend-yyyyMMddHHmm</c>): the usage per <see cref="SpendKey"/> of
/// the records written in that slot, gzip'd JSON in binary chunks (<see cref="ChunkedJson"/>). Rows folded before the
/// spend report existed hold only nano-USD per <c>client|model</c> in a string column <c>Json</c>; they read as usage with
/// cost alone, so budgets keep their figures across the upgrade.
/// </summary>
internal static class SlotRow
{
    private const string LegacySpendColumn = "Json";

    public static TableEntity ToEntity(string rowKey, Dictionary<SpendKey, UsageSums> usage) =>
        ChunkedJson.ToEntity(AggregateFolder.PartitionKey, rowKey, usage, AggregateJsonContext.Default.DictionarySpendKeyUsageSums);

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
