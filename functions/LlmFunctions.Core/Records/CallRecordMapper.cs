using Azure.Data.Tables;

namespace LlmFunctions.Core.Records;

/// <summary>Maps a <see cref="CallRecord"/> to and from its table entity, by the columns <see cref="CallRecordColumns"/> declares.</summary>
internal static class CallRecordMapper
{
    /// <summary>
    /// The last line under validation: a text property is cut to this many characters, so that whatever a request
    /// carried, no property reaches Table Storage's 64 KiB and the entity stays far below its 1 MiB.
    /// </summary>
    internal const int MaxTextLength = 1024;

    /// <summary>The metadata JSON's bound (OpenAI's own limits, checked at validation, keep it under 10 K characters).</summary>
    internal const int MaxMetadataLength = 16 * 1024;

    public static TableEntity ToEntity(CallRecord r, string partitionKey)
    {
        var entity = new TableEntity(partitionKey, r.CallId);
        foreach (var column in CallRecordColumns.All)
        {
            entity[column.Name] = column.Value(r);
        }

        return entity;
    }

    /// <summary>
    /// The properties the fold and a snapshot's tail read through <see cref="FromEntity"/>
    /// (<c>AggregateState.Add</c>, budgets' tail spend, the fold's minute from the PartitionKey, and the
    /// RowKey and Timestamp it falls back on): the columns declared <see cref="CallRecordColumn.Aggregated"/>, not the
    /// call id, response model, upstream request id or the USD double. A query that selects them moves less through
    /// storage and the SDK per record.
    /// </summary>
    public static readonly IEnumerable<string> AggregatedColumns =
        ["PartitionKey", "RowKey", "Timestamp", .. CallRecordColumns.All.Where(c => c.Aggregated).Select(c => c.Name)];

    public static CallRecord FromEntity(TableEntity e)
    {
        // Placeholders for the required members: every column, these among them, is read below.
        var record = new CallRecord { CallId = "", StartedAt = default, Client = "", Method = "", Endpoint = "" };
        foreach (var column in CallRecordColumns.All)
        {
            column.Read?.Invoke(e, record);
        }

        return record;
    }
}
