using System.Text.Json;
using System.Text.Json.Serialization;
using Azure;
using Azure.Data.Tables;

namespace LlmFunctions.Core.Budgets;

/// <summary>
/// A reserved budget's ledger for one period, in <c>LlmRollups</c> (PartitionKey = budget, RowKey =
/// <c>ledger-&lt;period&gt;</c>): what every slice of the budget has leased, live or dead (not renewed for
/// <see cref="BudgetLedger.CompactAfter"/>: counted at its whole lease until reconciled to what it spent), and a base
/// for what reconciled slices spent (and spend counted before the ledger existed). Changed only with its ETag.
/// </summary>
/// <remarks>Dead slices stay among the slices, marked: a version of the app that predates the mark reads them as
/// slices not renewed for long and moves their whole lease into the base, which only blocks early.</remarks>
internal sealed class LedgerRow
{
    public const string RowKeyPrefix = "ledger-";

    public required string Budget { get; init; }

    public required string PeriodKey { get; init; }

    /// <summary>Nano-USD no slice holds: what reconciled slices spent, and the spend known when the ledger began.</summary>
    public long BaseNanoUsd { get; set; }

    /// <summary>Every slice's entry, live and dead.</summary>
    public Dictionary<string, LedgerEntry> Slices { get; private init; } = new(StringComparer.Ordinal);

    public ETag? ETag { get; private init; }

    public IEnumerable<KeyValuePair<string, LedgerEntry>> Live => Slices.Where(s => !s.Value.Dead);

    public IEnumerable<KeyValuePair<string, LedgerEntry>> DeadSlices => Slices.Where(s => s.Value.Dead);

    /// <summary>Everything the ledger has given out: the base and every slice's lease, live or dead.</summary>
    public long CommittedNanoUsd(string? except = null) =>
        BaseNanoUsd + Slices.Where(s => !string.Equals(s.Key, except, StringComparison.Ordinal)).Sum(s => s.Value.LeasedNanoUsd);

    /// <summary>Marks slices not renewed since <paramref name="before"/> dead, lease and all: a lease is never given out
    /// twice (a slice that comes back finds itself gone and starts a new one).</summary>
    public void Compact(DateTimeOffset before, string? keep)
    {
        foreach (var (id, entry) in Live.Where(s => s.Value.RenewedAt < before && !string.Equals(s.Key, keep, StringComparison.Ordinal)).ToList())
        {
            Slices[id] = entry with { Dead = true };
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

/// <summary>
/// One slice's lease (the most its instance may have spent and reserved in the period) and, as of its last renewal,
/// what it had settled and had in flight, and the shard its instance writes records under (null in rows written
/// before these were kept: such a slice is reconciled at its whole lease); whether it is dead.
/// </summary>
internal sealed record LedgerEntry(
    [property: JsonPropertyName("leased")] long LeasedNanoUsd,
    [property: JsonPropertyName("at")] DateTimeOffset RenewedAt,
    [property: JsonPropertyName("settled")] long SettledNanoUsd = 0,
    [property: JsonPropertyName("reserved")] long ReservedNanoUsd = 0,
    [property: JsonPropertyName("shard")] int? Shard = null,
    [property: JsonPropertyName("dead")] bool Dead = false);

[JsonSerializable(typeof(Dictionary<string, LedgerEntry>))]
internal sealed partial class LedgerJsonContext : JsonSerializerContext;
