using Azure.Data.Tables;

namespace LlmFunctions.Core.Records;

/// <summary>
/// One property of a call's table row: the name it is stored under (a contract: people read the tables), the value
/// written, how it is read back (null: derived, not read), and whether the fold and budgets select it.
/// </summary>
internal sealed record CallRecordColumn(string Name, bool Aggregated, Func<CallRecord, object> Value, Action<TableEntity, CallRecord>? Read);

/// <summary>
/// A <see cref="CallRecord"/>'s columns, declared once: <see cref="CallRecordMapper"/> writes, reads and selects from
/// this list, and the spool serializes the record itself, whose properties are these names.
/// </summary>
internal static class CallRecordColumns
{
    private const bool Fold = true;
    private const bool NotFold = false;

    /// <summary>
    /// In table order. A read has the fallback a row written by an older version needs: absent, it reads as the
    /// default here, not the record's own (an old row's Outcome is empty, not <c>ok</c>).
    /// </summary>
    public static readonly IReadOnlyList<CallRecordColumn> All =
    [
        // Not bounded: our own id. A row without it has it as its RowKey.
        new("CallId", NotFold, r => r.CallId, (e, r) => r.CallId = e.GetString("CallId") ?? e.RowKey),
        new("StartedAt", Fold, r => r.StartedAt, (e, r) => r.StartedAt = e.GetDateTimeOffset("StartedAt") ?? e.Timestamp ?? default),
        Text("Client", Fold, r => r.Client, (r, v) => r.Client = v),
        Text("Model", Fold, r => r.Model, (r, v) => r.Model = v),
        Text("RequestedModel", NotFold, r => r.RequestedModel, (r, v) => r.RequestedModel = v),
        Text("UsedModel", Fold, r => r.UsedModel, (r, v) => r.UsedModel = v),
        Text("ResponseModel", NotFold, r => r.ResponseModel, (r, v) => r.ResponseModel = v),
        Text("Method", Fold, r => r.Method, (r, v) => r.Method = v),
        Text("Endpoint", Fold, r => r.Endpoint, (r, v) => r.Endpoint = v),
        Int32("StatusCode", Fold, r => r.StatusCode, (r, v) => r.StatusCode = v),
        Text("Outcome", Fold, r => r.Outcome, (r, v) => r.Outcome = v),
        Int64("InputTokens", Fold, r => r.InputTokens, (r, v) => r.InputTokens = v),
        Int64("CachedInputTokens", Fold, r => r.CachedInputTokens, (r, v) => r.CachedInputTokens = v),
        Int64("OutputTokens", Fold, r => r.OutputTokens, (r, v) => r.OutputTokens = v),
        Int64("ReasoningTokens", Fold, r => r.ReasoningTokens, (r, v) => r.ReasoningTokens = v),
        Int64("CacheWriteTokens", NotFold, r => r.CacheWriteTokens, (r, v) => r.CacheWriteTokens = v),
        Int64("CacheWrite1hTokens", NotFold, r => r.CacheWrite1hTokens, (r, v) => r.CacheWrite1hTokens = v),

        // For people reading the table; the record's cost is CostNanoUsd, exact.
        new("CostUsd", NotFold, r => r.CostUsd, Read: null),
        Int64("CostNanoUsd", Fold, r => r.CostNanoUsd, (r, v) => r.CostNanoUsd = v),
        Boolean("Priced", Fold, r => r.Priced, (r, v) => r.Priced = v),
        Text("UsageSource", Fold, r => r.UsageSource, (r, v) => r.UsageSource = v, absent: UsageSource.None),
        Double("DurationMs", Fold, r => r.DurationMs, (r, v) => r.DurationMs = v),
        Double("TimeToFirstByteMs", Fold, r => r.TimeToFirstByteMs, (r, v) => r.TimeToFirstByteMs = v),
        Boolean("Streamed", Fold, r => r.Streamed, (r, v) => r.Streamed = v),
        Int32("Retries", Fold, r => r.Retries, (r, v) => r.Retries = v),
        Text("UpstreamRequestId", NotFold, r => r.UpstreamRequestId, (r, v) => r.UpstreamRequestId = v),
        Text("Upstream", Fold, r => r.Upstream, (r, v) => r.Upstream = v),
        Int32("UpstreamsTried", NotFold, r => r.UpstreamsTried, (r, v) => r.UpstreamsTried = v),
        Text("BudgetShadowBlocks", Fold, r => r.BudgetShadowBlocks, (r, v) => r.BudgetShadowBlocks = v),
        Text("EndUser", Fold, r => r.EndUser, (r, v) => r.EndUser = v),
        Text("Tags", Fold, r => r.Tags, (r, v) => r.Tags = v),
        Text("Metadata", NotFold, r => r.Metadata, (r, v) => r.Metadata = v, max: CallRecordMapper.MaxMetadataLength),
    ];

    /// <summary>
    /// The record's properties that are no column, so that every other one must be (a test holds the record to it):
    /// the billed model is Model or UsedModel, and Shrunk is the store's note on one write, not a fact of the call.
    /// </summary>
    public static readonly IReadOnlySet<string> NotStored =
        new HashSet<string>(StringComparer.Ordinal) { nameof(CallRecord.BilledModel), nameof(CallRecord.Shrunk) };

    private static CallRecordColumn Text(string name, bool aggregated, Func<CallRecord, string> get, Action<CallRecord, string> set,
        string absent = "", int max = CallRecordMapper.MaxTextLength) =>
        new(name, aggregated, r => Bounded(get(r), max), (e, r) => set(r, e.GetString(name) ?? absent));

    private static CallRecordColumn Int32(string name, bool aggregated, Func<CallRecord, int> get, Action<CallRecord, int> set) =>
        new(name, aggregated, r => get(r), (e, r) => set(r, e.GetInt32(name) ?? 0));

    private static CallRecordColumn Int64(string name, bool aggregated, Func<CallRecord, long> get, Action<CallRecord, long> set) =>
        new(name, aggregated, r => get(r), (e, r) => set(r, e.GetInt64(name) ?? 0));

    private static CallRecordColumn Double(string name, bool aggregated, Func<CallRecord, double> get, Action<CallRecord, double> set) =>
        new(name, aggregated, r => get(r), (e, r) => set(r, e.GetDouble(name) ?? 0));

    private static CallRecordColumn Boolean(string name, bool aggregated, Func<CallRecord, bool> get, Action<CallRecord, bool> set) =>
        new(name, aggregated, r => get(r), (e, r) => set(r, e.GetBoolean(name) ?? false));

    private static string Bounded(string value, int max) => value.Length <= max ? value : value[..max];
}
