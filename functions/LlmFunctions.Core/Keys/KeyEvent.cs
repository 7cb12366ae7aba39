using Azure.Data.Tables;

namespace LlmFunctions.Core.Keys;

/// <summary>
/// One admin change of a key, kept for good (<c>GET /keys/{id}/events</c>): when, what (<c>create</c>, <c>patch</c>,
/// <c>rotate</c>, <c>revoke</c>), the fields it changed as JSON (old and new values, never a secret or a hash), and who
/// asked. Written in the same transaction as the change itself, so there is no change without its row.
/// </summary>
internal sealed record KeyEvent(long Seq, DateTimeOffset At, string KeyId, string Action, string Changes, string Caller)
{
    public TableEntity ToEntity() => new(KeyRows.Partition, KeyRows.EventRow(KeyId, Seq))
    {
        ["Seq"] = Seq,
        ["At"] = At,
        ["KeyId"] = KeyId,
        ["Action"] = Action,
        ["Changes"] = Changes,
        ["Caller"] = Caller,
    };

    public static KeyEvent FromEntity(TableEntity e) => new(e.GetInt64("Seq") ?? 0, e.GetDateTimeOffset("At") ?? DateTimeOffset.MinValue,
        e.GetString("KeyId"), e.GetString("Action"), e.GetString("Changes") ?? "{}", e.GetString("Caller") ?? "");
}
