using Azure.Data.Tables;

namespace LlmFunctions.Core.Records;

/// <summary>Maps a <see cref="CallRecord"/> to and from its table entity (the property names are a contract).</summary>
internal static class CallRecordMapper
{
    /// <summary>
    /// The last line under validation: a text property is cut to this many characters, so that whatever a request
    /// carried, no property reaches Table Storage's 64 KiB and the entity stays far below its 1 MiB.
    /// </summary>
    internal const int MaxTextLength = 1024;

    /// <summary>The metadata JSON's bound (OpenAI's own limits, checked at validation, keep it under 10 K characters).</summary>
    internal const int MaxMetadataLength = 16 * 1024;

    public static TableEntity ToEntity(CallRecord r, string partitionKey) => new(partitionKey, r.CallId)
    {
        ["CallId"] = r.CallId,
        ["StartedAt"] = r.StartedAt,
        ["Client"] = Bounded(r.Client),
        ["Model"] = Bounded(r.Model),
        ["RequestedModel"] = Bounded(r.RequestedModel),
        ["UsedModel"] = Bounded(r.UsedModel),
        ["ResponseModel"] = Bounded(r.ResponseModel),
        ["Method"] = Bounded(r.Method),
        ["Endpoint"] = Bounded(r.Endpoint),
        ["StatusCode"] = r.StatusCode,
        ["Outcome"] = Bounded(r.Outcome),
        ["InputTokens"] = r.InputTokens,
        ["CachedInputTokens"] = r.CachedInputTokens,
        ["OutputTokens"] = r.OutputTokens,
        ["ReasoningTokens"] = r.ReasoningTokens,
        ["CacheWriteTokens"] = r.CacheWriteTokens,
        ["CostUsd"] = r.CostUsd,
        ["CostNanoUsd"] = r.CostNanoUsd,
        ["Priced"] = r.Priced,
        ["UsageSource"] = Bounded(r.UsageSource),
        ["DurationMs"] = r.DurationMs,
        ["TimeToFirstByteMs"] = r.TimeToFirstByteMs,
        ["Streamed"] = r.Streamed,
        ["Retries"] = r.Retries,
        ["UpstreamRequestId"] = Bounded(r.UpstreamRequestId),
        ["Upstream"] = Bounded(r.Upstream),
        ["UpstreamsTried"] = r.UpstreamsTried,
        ["BudgetShadowBlocks"] = Bounded(r.BudgetShadowBlocks),
        ["EndUser"] = Bounded(r.EndUser),
        ["Tags"] = Bounded(r.Tags),
        ["Metadata"] = Bounded(r.Metadata, MaxMetadataLength),
    };

    private static string Bounded(string value, int max = MaxTextLength) => value.Length <= max ? value : value[..max];

    /// <summary>
    /// The properties the fold and a snapshot's tail read through <see cref="FromEntity"/>
    /// (<see cref="Aggregation.AggregateState.Add"/>, budgets' tail spend, the fold's minute from the PartitionKey, and the
    /// RowKey and Timestamp it falls back on): not the call id, response model, upstream request id or the USD double.
    /// A query that selects them moves less through storage and the SDK per record.
    /// </summary>
    public static readonly IEnumerable<string> AggregatedColumns =
    [
        "PartitionKey", "RowKey", "Timestamp", "StartedAt", "Client", "Model", "UsedModel", "Method", "Endpoint", "StatusCode", "Outcome",
        "InputTokens", "CachedInputTokens", "OutputTokens", "ReasoningTokens", "CostNanoUsd", "Priced", "UsageSource",
        "DurationMs", "TimeToFirstByteMs", "Streamed", "Retries", "Upstream", "BudgetShadowBlocks", "EndUser", "Tags",
    ];

    public static CallRecord FromEntity(TableEntity e) => new()
    {
        CallId = e.GetString("CallId") ?? e.RowKey,
        StartedAt = e.GetDateTimeOffset("StartedAt") ?? e.Timestamp ?? default,
        Client = e.GetString("Client") ?? "",
        Model = e.GetString("Model") ?? "",
        RequestedModel = e.GetString("RequestedModel") ?? "",
        UsedModel = e.GetString("UsedModel") ?? "",
        ResponseModel = e.GetString("ResponseModel") ?? "",
        Method = e.GetString("Method") ?? "",
        Endpoint = e.GetString("Endpoint") ?? "",
        StatusCode = e.GetInt32("StatusCode") ?? 0,
        Outcome = e.GetString("Outcome") ?? "",
        InputTokens = e.GetInt64("InputTokens") ?? 0,
        CachedInputTokens = e.GetInt64("CachedInputTokens") ?? 0,
        OutputTokens = e.GetInt64("OutputTokens") ?? 0,
        ReasoningTokens = e.GetInt64("ReasoningTokens") ?? 0,
        CacheWriteTokens = e.GetInt64("CacheWriteTokens") ?? 0,
        CostNanoUsd = e.GetInt64("CostNanoUsd") ?? 0,
        Priced = e.GetBoolean("Priced") ?? false,
        UsageSource = e.GetString("UsageSource") ?? UsageSource.None,
        DurationMs = e.GetDouble("DurationMs") ?? 0,
        TimeToFirstByteMs = e.GetDouble("TimeToFirstByteMs") ?? 0,
        Streamed = e.GetBoolean("Streamed") ?? false,
        Retries = e.GetInt32("Retries") ?? 0,
        UpstreamRequestId = e.GetString("UpstreamRequestId") ?? "",
        Upstream = e.GetString("Upstream") ?? "",
        UpstreamsTried = e.GetInt32("UpstreamsTried") ?? 0,
        BudgetShadowBlocks = e.GetString("BudgetShadowBlocks") ?? "",
        EndUser = e.GetString("EndUser") ?? "",
        Tags = e.GetString("Tags") ?? "",
        Metadata = e.GetString("Metadata") ?? "",
    };
}
