namespace LlmFunctions.Core.Records;

/// <summary>Where a record was when its write completed (<see cref="RecordWriter.WriteAsync"/>).</summary>
internal enum RecordLocation
{
    /// <summary>Only queued: its caller did not wait (<c>Storage__AwaitRecordWrite=false</c>).</summary>
    Queue,

    /// <summary>In the table.</summary>
    Table,

    /// <summary>In the local journal, fsync'd (<c>Storage__LocalJournal</c>).</summary>
    Journal,

    /// <summary>In the local spool, fsync'd: storage failed it, the replayer brings it to the table.</summary>
    Spool,
}
