namespace LlmFunctions.Core.Records;

/// <summary>
/// Told of records right after their table commit succeeded, before their callers hear so: how the aggregates learn
/// of them without the record path knowing the aggregates (the tail of every instance's sums).
/// </summary>
internal interface ICommitObserver
{
    void Committed(string partitionKey, IReadOnlyList<CallRecord> records);
}
