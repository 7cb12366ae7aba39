using System.Text.Json;
using System.Text.Json.Serialization;
using Azure;
using Azure.Data.Tables;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// A reserved budget's ledger for one period, in <c>LlmRollups</c> (PartitionKey = budget, RowKey =
/// <c>ledger-&lt;period&gt;</c>): what every slice of the budget has leased, and a base for what slices no longer
/// renewed had leased (and spend counted before the ledger existed). Changed only with its ETag.
/// </summary>
internal sealed class LedgerRow
{
    public const string RowKeyPrefix = "ledger-";

    public required string Budget { get; init; }

    public required string PeriodKey { get; init; }

    /// <summary>Nano-USD no live slice holds: compacted slices' leases, and the spend known when the ledger began.</summary>
    public long BaseNanoUsd { get; set; }

    public Dictionary<string, LedgerEntry> Slices { get; private init; } = new(StringComparer.Ordinal);

    public ETag? ETag { get; private init; }

    /// <summary>Everything the ledger has given out: the base and every slice's lease.</summary>
    public long CommittedNanoUsd(string? except = null) =>
        BaseNanoUsd + Slices.Where(s => !string.Equals(s.Key, except, StringComparison.Ordinal)).Sum(s => s.Value.LeasedNanoUsd);

    /// <summary>Moves the leases of slices not renewed since <paramref name="before"/> into the base: the row stays small,
    /// and a lease is never given out twice (a slice that comes back finds itself gone and starts a new one).</summary>
    public void Compact(DateTimeOffset before, string keep)
    {
        foreach (var (id, entry) in Slices.Where(s => s.Value.RenewedAt < before && !string.Equals(s.Key, keep, StringComparison.Ordinal)).ToList())
        {
            BaseNanoUsd += entry.LeasedNanoUsd;
            Slices.Remove(id);
        }
    }

    public TableEntity ToEntity() => new(Budget, RowKeyPrefix + PeriodKey)
    {
        ["BaseNanoUsd"] = BaseNanoUsd,
        ["Slices"] = JsonSerializer.Serialize(Slices, LedgerJsonContext.Default.DictionaryStringLedgerEntry),
    };

    public static LedgerRow FromEntity(TableEntity e) => new()
    {
        Budget = e.PartitionKey,
        PeriodKey = e.RowKey[RowKeyPrefix.Length..],
        BaseNanoUsd = e.GetInt64("BaseNanoUsd") ?? 0,
        Slices = new Dictionary<string, LedgerEntry>(
            JsonSerializer.Deserialize(e.GetString("Slices") ?? "{}", LedgerJsonContext.Default.DictionaryStringLedgerEntry) ?? [], StringComparer.Ordinal),
        ETag = e.ETag,
    };
}

/// <summary>One slice's lease: the most its instance may have spent and reserved in the period.</summary>
internal sealed record LedgerEntry(
    [property: JsonPropertyName("leased")] long LeasedNanoUsd,
    [property: JsonPropertyName("at")] DateTimeOffset RenewedAt);

[JsonSerializable(typeof(Dictionary<string, LedgerEntry>))]
internal sealed partial class LedgerJsonContext : JsonSerializerContext;
