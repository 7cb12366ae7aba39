using System.Globalization;
using System.Text.Json;
using Azure.Data.Tables;

namespace LlmFunctions.Core.Keys;

/// <summary>
/// The rows of <c>LlmKeys</c>, all in one partition so that a change and everything it touches commit in one
/// entity-group transaction:
/// <code>
/// seq               the number of the last change (its ETag orders the admin API's writers)
/// k:{id}            a key: hash, name, limits (VirtualKey)
/// n:{name as hex}   a name taken, for good (a revoked key keeps it): the insert that fails when it is taken
/// c:{seq}           the change log: the key as that change left it; instances read the rows after their last
/// e:{id}:{seq}      the audit: when, what changed, who asked
/// </code>
/// </summary>
internal static class KeyRows
{
    public const string Partition = "keys";

    /// <summary>Non-ASCII as itself, not <c>\uXXXX</c>: a value six times its length could pass Table Storage's 64 KiB a string.</summary>
    private static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    public const string SeqRow = "seq";
    public const string KeyPrefix = "k:";
    public const string ChangePrefix = "c:";

    public static string KeyRow(string id) => KeyPrefix + id;

    public static string NameRow(string name) => "n:" + Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(name));

    public static string ChangeRow(long seq) => ChangePrefix + seq.ToString("D19", CultureInfo.InvariantCulture);

    public static string EventPrefix(string id) => "e:" + id + ":";

    public static string EventRow(string id, long seq) => EventPrefix(id) + seq.ToString("D19", CultureInfo.InvariantCulture);

    /// <summary>The key as row <paramref name="rowKey"/> (its own row, or a change log row).</summary>
    public static TableEntity ToEntity(VirtualKey key, string rowKey)
    {
        var e = new TableEntity(Partition, rowKey)
        {
            ["Id"] = key.Id,
            ["Name"] = key.Name,
            ["KeySha256"] = key.KeySha256,
            ["CreatedAt"] = key.CreatedAt,
            ["UpdatedAt"] = key.UpdatedAt,
            ["Seq"] = key.Seq,
        };

        // An unset value is no property at all, as Table Storage stores it.
        Set(e, "PreviousKeySha256", key.PreviousKeySha256);
        Set(e, "PreviousValidUntil", key.PreviousValidUntil);
        Set(e, "Models", key.Models.Count == 0 ? null : JsonSerializer.Serialize(key.Models, Json));
        Set(e, "Rpm", key.Rpm);
        Set(e, "Tpm", key.Tpm);
        Set(e, "ExpiresAt", key.ExpiresAt);
        Set(e, "Metadata", key.Metadata.Count == 0 ? null : JsonSerializer.Serialize(key.Metadata, Json));
        Set(e, "RotatedAt", key.RotatedAt);
        Set(e, "RevokedAt", key.RevokedAt);
        if (key.Budget is { } b)
        {
            // The limit as text: a decimal is not a Table Storage type, and a double would not give back what was set.
            e["BudgetLimitUsd"] = b.LimitUsd.ToString(CultureInfo.InvariantCulture);
            e["BudgetPeriod"] = b.Period;
            e["BudgetAction"] = b.Action;
            e["BudgetReserve"] = b.Reserve;
        }

        return e;
    }

    private static void Set(TableEntity e, string name, object? value)
    {
        if (value is not null)
        {
            e[name] = value;
        }
    }

    public static VirtualKey FromEntity(TableEntity e) => new()
    {
        Id = e.GetString("Id"),
        Name = e.GetString("Name"),
        KeySha256 = e.GetString("KeySha256"),
        PreviousKeySha256 = e.GetString("PreviousKeySha256"),
        PreviousValidUntil = e.GetDateTimeOffset("PreviousValidUntil"),
        Models = e.GetString("Models") is { } models ? JsonSerializer.Deserialize<string[]>(models) ?? [] : [],
        Budget = e.GetString("BudgetLimitUsd") is { } limit
            ? new KeyBudget(decimal.Parse(limit, CultureInfo.InvariantCulture), e.GetString("BudgetPeriod"), e.GetString("BudgetAction"),
                e.GetBoolean("BudgetReserve") ?? false)
            : null,
        Rpm = e.GetInt32("Rpm"),
        Tpm = e.GetInt64("Tpm"),
        ExpiresAt = e.GetDateTimeOffset("ExpiresAt"),
        Metadata = e.GetString("Metadata") is { } metadata
            ? JsonSerializer.Deserialize<Dictionary<string, string>>(metadata) ?? []
            : new Dictionary<string, string>(),
        CreatedAt = e.GetDateTimeOffset("CreatedAt") ?? DateTimeOffset.MinValue,
        UpdatedAt = e.GetDateTimeOffset("UpdatedAt") ?? DateTimeOffset.MinValue,
        RotatedAt = e.GetDateTimeOffset("RotatedAt"),
        RevokedAt = e.GetDateTimeOffset("RevokedAt"),
        Seq = e.GetInt64("Seq") ?? 0,
    };
}
