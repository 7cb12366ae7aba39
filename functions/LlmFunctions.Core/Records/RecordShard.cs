namespace LlmFunctions.Core.Records;

/// <summary>
/// This instance's shard of each minute's PartitionKey (<see cref="RecordKeys.PartitionKey"/>), drawn once per process:
/// the writer keys its records with it, and a reserved budget's slice names it so that the ledger can find the records
/// of an instance that stopped without a word.
/// </summary>
internal sealed class RecordShard
{
    public int Value { get; } = Random.Shared.Next(0, 100);
}
