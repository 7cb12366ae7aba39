using Azure;
using Azure.Data.Tables;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Aggregation;

/// <summary>
/// The fold's state in <c>LlmAggregates</c> (partition <c>state</c>, row <c>v1</c>): the <see cref="AggregateState"/> as
/// gzip'd JSON chunks (<see cref="ChunkedJson"/>), with its watermark and record count also as plain columns for people
/// reading the table. The slot rows share its partition, so a fold step commits both in one transaction.
/// </summary>
internal static class StateRow
{
    internal const string PartitionKey = "state";
    internal const string RowKey = "v1";

    public static async Task<(AggregateState? State, ETag? ETag)> LoadAsync(ITable aggregates, CancellationToken cancellationToken)
    {
        var e = await aggregates.GetAsync(PartitionKey, RowKey, select: null, cancellationToken).ConfigureAwait(false);
        return e is not null ? (ChunkedJson.FromEntity(e, AggregateJsonContext.Default.AggregateState), e.ETag) : (null, null);
    }

    public static TableEntity ToEntity(AggregateState state)
    {
        var entity = ChunkedJson.ToEntity(PartitionKey, RowKey, state, AggregateJsonContext.Default.AggregateState);
        entity["Watermark"] = state.Watermark;
        entity["FoldedRecords"] = state.FoldedRecords;
        return entity;
    }
}
