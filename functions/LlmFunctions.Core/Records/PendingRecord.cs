namespace LlmFunctions.Core.Records;

/// <summary>A record on its way to storage, and its caller's wait.</summary>
internal sealed class PendingRecord(CallRecord record, bool awaited)
{
    public CallRecord Record { get; } = record;

    /// <summary>A caller waits for this record to be durable.</summary>
    public bool Awaited { get; } = awaited;

    /// <summary>The journal segment holding it once journaled (its caller has completed); null otherwise.</summary>
    public RecordJournal.Segment? Segment { get; set; }

    /// <summary>The PartitionKey the journal holds for it; null: the minute it is written in.</summary>
    public string? PartitionKey { get; set; }

    /// <summary>When it was journaled (the time its PartitionKey comes from).</summary>
    public DateTimeOffset JournaledAt { get; set; }

    /// <summary>A caller waits for the table write itself, so its batch is committed without delay.</summary>
    public bool WaitsOnTable => Awaited && Segment is null;

    /// <summary>Where the record became durable, for the caller that waits.</summary>
    public TaskCompletionSource<RecordLocation> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Records as spool (or journal) entries, each with the key a write of it was or will be attempted under. The records
    /// themselves, not copies: the spool or journal serializes them before their writer goes on.
    /// </summary>
    public static List<SpooledRecord> ToSpooled(IReadOnlyList<PendingRecord> batch, string? attemptedPartitionKey)
    {
        var records = new List<SpooledRecord>(batch.Count);
        foreach (var p in batch)
        {
            records.Add(new SpooledRecord
            {
                Record = p.Record,
                AttemptedPartitionKeys = attemptedPartitionKey is null ? [] : [attemptedPartitionKey],
            });
        }

        return records;
    }
}
