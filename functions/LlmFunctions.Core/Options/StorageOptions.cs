using System.ComponentModel.DataAnnotations;

namespace LlmFunctions.Core;

/// <summary>Where the per-call records and aggregates live (section <c>Storage</c>).</summary>
public sealed class StorageOptions
{
    public const string SectionName = "Storage";

    /// <summary>Table Storage connection string. Default: Azurite (<c>UseDevelopmentStorage=true</c>).</summary>
    public string ConnectionString { get; set; } = "UseDevelopmentStorage=true";

    /// <summary>Table endpoint for managed identity (Azure.Identity); wins over the connection string when set.</summary>
    public string? TableServiceUri { get; set; }

    /// <summary>
    /// Local folder where records that storage refused are spooled (fsync'd) and replayed from.
    /// Default: <c>llm-spool</c> under the temp folder.
    /// </summary>
    public string? SpoolDirectory { get; set; }

    /// <summary>
    /// True (default): a call's handler returns only once its record is durable (in the table or the fsync'd spool),
    /// which Azure Functions needs — an instance may be frozen or recycled right after an invocation. False: the
    /// record is queued for group commit and the handler returns at once; a long-lived host still writes every
    /// queued record on a graceful stop, but a crash (SIGKILL, power loss) loses the queue. On a keep-alive
    /// connection the next request waits for the handler, so false removes the storage round trip from back-to-back
    /// latency (see tests/Benchmarks/README.md for both settings measured).
    /// </summary>
    public bool AwaitRecordWrite { get; set; } = true;

    /// <summary>
    /// Whether a record on this instance's local disk (the spool, or the journal) counts as durable. True (the default
    /// of the local host): during a storage outage calls are answered and their records spooled, replayed when storage
    /// returns or at the next start, so the disk must outlive the process. False (the default on Azure Functions, whose
    /// instances take their temp disk with them when recycled or scaled in): a call is answered only once its record is
    /// in the table; one whose record storage did not take gets 503 <c>storage_unavailable</c> instead of its last
    /// bytes, and while storage is down new calls get that 503 before they reach the upstream (docs/architecture.md,
    /// "What durable means on each plan").
    /// </summary>
    public bool LocalDiskIsDurable { get; set; } = true;

    /// <summary>
    /// False (default). True, only on a host whose local disk outlives the process (a VM, a container with a persistent
    /// volume; never Azure Functions): a record is durable once appended to a local journal in
    /// <see cref="SpoolDirectory"/> and flushed to disk (one fsync per group of records), so with
    /// <see cref="AwaitRecordWrite"/> a call waits for that flush instead of a storage round trip; records reach the
    /// table in the background, and a host that crashed replays its journal at the next start.
    /// </summary>
    public bool LocalJournal { get; set; }

    /// <summary>
    /// The most records waiting for storage. Past it a call waits for room in the queue (one group commit) before it
    /// returns, so when calls come faster than storage takes records the proxy slows to storage's pace instead of
    /// growing its memory and what a crash would lose. Matters with <see cref="AwaitRecordWrite"/> false (with true,
    /// every call waits for its own record anyway). Default 1,000 (25 group commits): a longer queue absorbs a longer
    /// burst but adds no throughput, since the writer empties it at storage's pace either way.
    /// </summary>
    [Range(100, 1_000_000)]
    public int MaxQueuedRecords { get; set; } = 1_000;

    /// <summary>
    /// How long the writer lets a batch nobody waits on fill before it commits it (records queued with
    /// <see cref="AwaitRecordWrite"/> false, or already in the <see cref="LocalJournal"/>), unless it fills up first
    /// (40 records). At one call at a time this turns one storage transaction per call into one per delay, which
    /// leaves storage's and the proxy's CPU to the calls; the cost is that a crash loses up to this much more of the
    /// queue. Batches a caller waits on follow <see cref="CommitIntervalMs"/> instead. 0 commits at once. Default 20 ms.
    /// </summary>
    [Range(0, 1000)]
    public int QueuedCommitDelayMs { get; set; } = 20;

    /// <summary>
    /// The shortest time between two commits of batches that callers wait on, while other calls are in progress: a
    /// commit then waits until this long after the previous one began, gathering the records that arrive meanwhile, so
    /// steady traffic costs at most 1,000 / this transactions a second per commit slot. The wait holds the invocation
    /// (and a client's next call on the same connection). 0 (default): no timer; batches grow with load and storage
    /// latency because up to <see cref="MaxCommitsInFlight"/> commits are under way while more records queue.
    /// </summary>
    [Range(0, 1000)]
    public int CommitIntervalMs { get; set; }

    /// <summary>
    /// Record transactions under way at once. Storage a network hop away takes one round trip per transaction; with
    /// several in flight, the records that queue meanwhile form the next batches instead of waiting for one commit at
    /// a time. Default 4.
    /// </summary>
    [Range(1, 32)]
    public int MaxCommitsInFlight { get; set; } = 4;

    /// <summary>
    /// Days of call records to keep besides today's; 0 (default) keeps them forever. Records live in one table per UTC day
    /// (<c>LlmCallsyyyyMMdd</c>); the fold drops a day's table once it is older than this and entirely folded, so
    /// metrics and budgets, which read the folded aggregates, keep counting it. Keep it longer than a spooled record
    /// could wait for storage: a replay checks the record's original day for a copy that already committed.
    /// </summary>
    [Range(0, 36500)]
    public int RetentionDays { get; set; }
}
