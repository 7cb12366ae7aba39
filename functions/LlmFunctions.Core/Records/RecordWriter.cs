using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Records;

/// <summary>
/// The records' way in: the proxy queues each call's record here and, by default, waits until it is durable. Three
/// background services take them on (docs/architecture.md, "Writing records"): <see cref="JournalPump"/> (with
/// <c>Storage__LocalJournal</c>) journals them first, <see cref="GroupCommitWriter"/> commits them to the table or
/// spools them, and <see cref="SpoolReplayer"/> writes the spool back.
/// </summary>
internal sealed partial class RecordWriter
{
    /// <summary>
    /// Records per transaction. Not the 100 a transaction may hold: the SDK's request for 100 records lands on the
    /// large object heap (measured in docs/architecture.md, "Writing records").
    /// </summary>
    internal const int MaxBatch = 40;

    /// <summary>What a caller that does not wait gets: the record is queued.</summary>
    private static readonly Task<RecordLocation> QueuedOnly = Task.FromResult(RecordLocation.Queue);

    private readonly Channel<PendingRecord> _incoming;
    private readonly Channel<PendingRecord> _journaled;
    private readonly RecordSpool _spool;
    private readonly RecordJournal _journal;
    private readonly InFlightCalls _inFlight;
    private readonly ILogger<RecordWriter> _logger;
    private long _transactions;
    private long _written;
    private long _spooled;
    private long _pending;

    public RecordWriter(RecordSpool spool, RecordJournal journal, InFlightCalls inFlight, RecordShard shard, IOptions<StorageOptions> options,
        ILogger<RecordWriter> logger)
    {
        Shard = shard.Value;
        _logger = logger;
        _spool = spool;
        _journal = journal;
        _inFlight = inFlight;

        // Bounded: when calls come faster than storage takes records, a caller waits for room (one group commit),
        // so the proxy slows to storage's pace instead of growing its memory and what a crash would lose.
        _incoming = Channel.CreateBounded<PendingRecord>(new BoundedChannelOptions(options.Value.MaxQueuedRecords)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        // Journaled records on their way to the table: two batches at most, so a record reaches the table within a
        // commit or two of its key's minute (or is reported late), and a journal ahead of storage slows callers down
        // rather than holding records in memory.
        _journaled = Channel.CreateBounded<PendingRecord>(new BoundedChannelOptions(2 * MaxBatch)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Storage transactions issued (for the benchmark's transactions-per-call figure).</summary>
    public long Transactions => Interlocked.Read(ref _transactions);

    public long Written => Interlocked.Read(ref _written);

    public long Spooled => Interlocked.Read(ref _spooled);

    /// <summary>Records waiting for the background services (not counting the transaction under way).</summary>
    public int Queued => _incoming.Reader.Count + _journaled.Reader.Count;

    /// <summary>Records taken in and not settled yet: queued, or in a commit under way (<c>/health</c>'s <c>recordsPending</c>).</summary>
    public long Pending => Interlocked.Read(ref _pending);

    /// <summary>Raised once for every record, when it is durable (used by budget enforcement for "seen since the fold").</summary>
    public event Action<CallRecord>? Durable;

    internal bool JournalEnabled => _journal.Enabled;

    /// <summary>This instance's shard of each minute's PartitionKey (<see cref="RecordKeys.PartitionKey"/>).</summary>
    internal int Shard { get; }

    /// <summary>Records as the proxy queued them: the journal pump's input with the journal, else the table's.</summary>
    internal ChannelReader<PendingRecord> Incoming => _incoming.Reader;

    /// <summary>What the group-commit writer takes: journaled records with the journal, else the incoming ones.</summary>
    internal ChannelReader<PendingRecord> TableBound => JournalEnabled ? _journaled.Reader : _incoming.Reader;

    /// <summary>The journal pump's hand-over to the group-commit writer.</summary>
    internal ChannelWriter<PendingRecord> Journaled => _journaled.Writer;

    /// <summary>
    /// Queues a record. The task completes when the record is durable, with where it is (the table, the journal or the
    /// spool), or — with <paramref name="untilDurable"/> false — as soon as it is queued (<see cref="RecordLocation.Queue"/>),
    /// which is at once unless <c>Storage__MaxQueuedRecords</c> are already waiting.
    /// </summary>
    public Task<RecordLocation> WriteAsync(CallRecord record, bool untilDurable = true)
    {
        var pending = new PendingRecord(record, untilDurable);
        Interlocked.Increment(ref _pending);
        if (_incoming.Writer.TryWrite(pending))
        {
            return untilDurable ? pending.Completion.Task : QueuedOnly;
        }

        return WriteWhenRoomAsync(pending, untilDurable);
    }

    private async Task<RecordLocation> WriteWhenRoomAsync(PendingRecord pending, bool untilDurable)
    {
        try
        {
            await _incoming.Writer.WriteAsync(pending).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            // Only after shutdown drained the queue: write it straight to the spool rather than lose it.
            try
            {
                await _spool.AppendAsync([new SpooledRecord { Record = pending.Record }], CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _pending);
            }

            return RecordLocation.Spool;
        }

        return untilDurable ? await pending.Completion.Task.ConfigureAwait(false) : RecordLocation.Queue;
    }

    /// <summary>
    /// Called by the service that reads <see cref="Incoming"/> when the host stops. The web server may still be
    /// finishing calls (hosted services can stop before it does): waits for them, then closes the queue, so every
    /// call that reached us is written before exit.
    /// </summary>
    /// <remarks>
    /// When calls outlast <paramref name="cancellationToken"/> (the host's shutdown timeout), the queue is closed anyway:
    /// a record queued later goes straight to the spool, and the writer still runs down what is queued.
    /// </remarks>
    internal async Task CloseIncomingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _inFlight.WaitForZeroAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            LogCallsOutlastedStop(_logger, _inFlight.Count);
        }
        finally
        {
            _incoming.Writer.TryComplete();
        }
    }

    /// <summary>The record is durable in <paramref name="location"/>: raises <see cref="Durable"/> and completes its caller,
    /// whatever a handler does.</summary>
    internal void Settle(PendingRecord pending, RecordLocation location)
    {
        try
        {
            Durable?.Invoke(pending.Record);
        }
        catch (Exception ex)
        {
            LogDurableHandlerFailed(_logger, ex, pending.Record.CallId);
        }
        finally
        {
            if (pending.Completion.TrySetResult(location))
            {
                Interlocked.Decrement(ref _pending);
            }
        }
    }

    /// <summary>The record could not be made durable: its caller gets <paramref name="error"/>.</summary>
    internal void Fail(PendingRecord pending, Exception error)
    {
        if (pending.Completion.TrySetException(error))
        {
            Interlocked.Decrement(ref _pending);
        }
    }

    internal void CountTransaction() => Interlocked.Increment(ref _transactions);

    internal void CountWritten(int records) => Interlocked.Add(ref _written, records);

    internal void CountSpooled(int records) => Interlocked.Add(ref _spooled, records);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Error, Message = "A handler of a durable record failed (call {CallId}); the record is stored.")]
    private static partial void LogDurableHandlerFailed(ILogger logger, Exception exception, string callId);

    [LoggerMessage(EventId = 2015, Level = LogLevel.Warning,
        Message = "{Count} calls were still in progress when the stop timed out; their records go to the spool.")]
    private static partial void LogCallsOutlastedStop(ILogger logger, int count);
}
