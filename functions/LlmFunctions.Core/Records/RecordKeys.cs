using System.Globalization;

namespace LlmFunctions.Core.Records;

/// <summary>
/// Keys of the call records (in the daily <c>LlmCallsyyyyMMdd</c> tables, see <see cref="TableNames"/>).
/// <para>
/// PartitionKey = <c>yyyyMMddHHmm-SS</c>: the UTC minute the record was written, then the writer's shard.
/// RowKey = the call id (a version 7 GUID, so time-ordered).
/// </para>
/// <list type="bullet">
/// <item>Time first: the fold reads "every record of minute m" as one PartitionKey range
/// (<c>m ≤ PK &lt; m+1</c>) that never touches older history, so scrapes stay flat as history grows.</item>
/// <item>The shard spreads writes: each host instance writes to its own partition per minute, so instances never
/// compete for one partition's throughput, and one instance's group commit always lands in one partition — the
/// condition for an entity-group transaction.</item>
/// <item>The key time is the <em>write</em> minute, not the call's start: a record that waited (retries, spool)
/// is re-keyed to the current minute before it is written (a record in the local journal keeps its journal key only
/// when its write starts within the fold's lag less 7 s; later, its segment goes to the replay, which re-keys it), so it can never
/// land behind the fold's watermark
/// (see <c>AggregateFolder</c>). The RowKey (call id) stays, which is how replays stay idempotent.</item>
/// </list>
/// </summary>
internal static class RecordKeys
{
    public const string MinuteFormat = "yyyyMMddHHmm";

    public static string Minute(DateTimeOffset time) => time.UtcDateTime.ToString(MinuteFormat, CultureInfo.InvariantCulture);

    public static string PartitionKey(DateTimeOffset writeTime, int shard) =>
        string.Create(CultureInfo.InvariantCulture, $"{Minute(writeTime)}-{shard:D2}");

    public static DateTimeOffset ParseMinute(string minute) =>
        DateTimeOffset.ParseExact(minute, MinuteFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    /// <summary>The minute a PartitionKey belongs to.</summary>
    public static DateTimeOffset MinuteOf(string partitionKey) => ParseMinute(partitionKey[..MinuteFormat.Length]);

    public static string NewCallId(TimeProvider time) => Guid.CreateVersion7(time.GetUtcNow()).ToString("N");
}
