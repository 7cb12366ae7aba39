using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LlmFunctions.Core.Records;

/// <summary>
/// With <c>Storage__LocalJournal</c>: appends each batch of queued records to the journal and fsyncs it, completes
/// their callers, and hands them on to the <see cref="GroupCommitWriter"/>. When the journal cannot be written, the
/// batch goes on unjournaled and its callers wait for the table. Without the journal it does nothing.
/// </summary>
internal sealed partial class JournalPump(RecordWriter writer, RecordJournal journal, TimeProvider time, ILogger<JournalPump> logger)
    : BackgroundService
{
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (writer.JournalEnabled)
        {
            await writer.CloseIncomingAsync(cancellationToken).ConfigureAwait(false);
        }

        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!writer.JournalEnabled)
        {
            return;
        }

        // Before anything new is journaled: what a crashed host left becomes spool batches for the replayer. Not
        // cancellable: a stop during start-up must still reach the loop below, which journals what callers queued.
        await journal.RecoverAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            var batch = new List<PendingRecord>(RecordWriter.MaxBatch);
            var reader = writer.Incoming;

            // Not stoppingToken: a stop closes the queue, and what is in it is still journaled and handed on.
            while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                while (batch.Count < RecordWriter.MaxBatch && reader.TryRead(out var p))
                {
                    batch.Add(p);
                }

                Journal(batch);
                foreach (var p in batch)
                {
                    await writer.Journaled.WriteAsync(p, CancellationToken.None).ConfigureAwait(false);
                }

                batch.Clear();
            }
        }
        finally
        {
            // No more appends; the last segment finishes once the writer has reported its records.
            journal.Close();
            writer.Journaled.TryComplete();
        }
    }

    private void Journal(List<PendingRecord> batch)
    {
        var now = time.GetUtcNow();
        var partitionKey = RecordKeys.PartitionKey(now, writer.Shard);
        try
        {
            var segment = journal.Append(PendingRecord.ToSpooled(batch, partitionKey));
            foreach (var p in batch)
            {
                p.Segment = segment;
                p.PartitionKey = partitionKey;
                p.JournaledAt = now;
                writer.Settle(p, RecordLocation.Journal);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not in the journal (the append was cut back): these go on as plain records, their callers wait.
            LogJournalFailed(logger, ex.GetType().Name);
        }
    }

    [LoggerMessage(EventId = 2006, Level = LogLevel.Error,
        Message = "The local journal could not be written ({Error}); records go to the table directly until it can.")]
    private static partial void LogJournalFailed(ILogger logger, string error);
}
