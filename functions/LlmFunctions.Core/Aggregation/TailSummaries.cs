using Azure;
using Azure.Data.Tables;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Aggregation;

/// <summary>
/// Each instance's running sums of the records it has written, one <see cref="AggregateDelta"/> per write minute, kept in
/// table <c>LlmTail</c> (PartitionKey = minute, RowKey = this process's id) so that a scrape reads a few small rows
/// for the minutes the fold has not reached instead of every record in them.
/// <list type="bullet">
/// <item>A record is added after its table commit succeeds and before its caller hears so; rows are written at most
/// <see cref="FlushInterval"/> later, and before a scrape or rollup on this instance reads. A row only grows (it is
/// replaced by a later sum of the same minute), so a scrape never shows less than the one before it.</item>
/// <item>A row may miss records (written, not yet flushed, or lost with a crash): the scrape shows them late, never
/// twice. The fold reads the records themselves, so the state is exact whatever the rows say.</item>
/// </list>
/// </summary>
internal sealed partial class TailSummaries(TableStore store, TimeProvider time, IOptions<MetricsOptions> options, SpendKeyLimit limit,
    ILogger<TailSummaries> logger)
    : BackgroundService, ICommitObserver
{
    /// <summary>Longest a committed record waits to be in this instance's row.</summary>
    internal static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(1);

    /// <summary>How long a minute's sums stay in memory after the minute ends (it may still get journaled records).</summary>
    private static readonly TimeSpan KeepFor = TimeSpan.FromMinutes(10);

    private readonly string _instance = Guid.NewGuid().ToString("N");
    private readonly IReadOnlySet<string> _countedTags = options.Value.TagSet();
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _flushing = new(1, 1);
    private readonly Dictionary<string, Minute> _minutes = new(StringComparer.Ordinal);

    /// <summary>Adds records that were just committed under <paramref name="partitionKey"/>.</summary>
    public void Committed(string partitionKey, IReadOnlyList<CallRecord> records)
    {
        var minute = partitionKey[..RecordKeys.MinuteFormat.Length];
        lock (_lock)
        {
            if (!_minutes.TryGetValue(minute, out var m))
            {
                _minutes[minute] = m = new Minute();
            }

            foreach (var r in records)
            {
                m.Delta.Add(r, _countedTags, limit);
            }

            m.Version++;
        }
    }

    /// <summary>Writes the rows of minutes that changed since their last write.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _flushing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var pending = new List<(string Minute, long Version, TableEntity Row)>();
            var forgetBefore = RecordKeys.Minute(time.GetUtcNow() - KeepFor);
            lock (_lock)
            {
                foreach (var (minute, m) in _minutes)
                {
                    if (m.Version == m.Flushed || m.TooBig)
                    {
                        continue;
                    }

                    try
                    {
                        pending.Add((minute, m.Version, ChunkedJson.ToEntity(minute, _instance, m.Delta, AggregateJsonContext.Default.AggregateDelta)));
                    }
                    catch (InvalidOperationException)
                    {
                        // Too big for an entity (spend keys are bounded, but callers also choose model names): the row
                        // keeps its last sums, and the fold counts the minute from the records themselves.
                        m.TooBig = true;
                        LogTooBig(logger, minute);
                    }
                }

                var forgotten = _minutes.Where(p => (p.Value.Version == p.Value.Flushed || p.Value.TooBig) && string.CompareOrdinal(p.Key, forgetBefore) < 0)
                    .Select(p => p.Key).ToList();
                foreach (var minute in forgotten)
                {
                    _minutes.Remove(minute);
                }
            }

            if (pending.Count > 0)
            {
                await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
            }

            foreach (var (minute, version, row) in pending)
            {
                await store.Tail.UpsertAsync(row, cancellationToken).ConfigureAwait(false);
                lock (_lock)
                {
                    _minutes[minute].Flushed = version;
                }
            }
        }
        finally
        {
            _flushing.Release();
        }
    }

    /// <summary>Every instance's sums for the minutes from <paramref name="fromMinute"/> on, summed per minute, in order.</summary>
    public async Task<SortedDictionary<string, AggregateDelta>> ReadAsync(string fromMinute, CancellationToken cancellationToken)
    {
        var result = new SortedDictionary<string, AggregateDelta>(StringComparer.Ordinal);
        await foreach (var row in store.Tail.QueryAsync(new TableQuery { PartitionKeyFrom = fromMinute }, cancellationToken).ConfigureAwait(false))
        {
            if (ChunkedJson.FromEntity(row, AggregateJsonContext.Default.AggregateDelta) is not { } delta)
            {
                continue;
            }

            if (result.TryGetValue(row.PartitionKey, out var sum))
            {
                sum.Add(delta);
            }
            else
            {
                result[row.PartitionKey] = delta;
            }
        }

        return result;
    }

    /// <summary>Deletes the rows of minutes before <paramref name="beforeMinute"/> (all folded), a partition per transaction.</summary>
    public async Task<int> DeleteBeforeAsync(string beforeMinute, CancellationToken cancellationToken)
    {
        var rows = new List<TableEntity>();
        var keys = store.Tail.QueryAsync(new TableQuery { PartitionKeyBefore = beforeMinute, Select = ["PartitionKey", "RowKey"] }, cancellationToken);
        await foreach (var row in keys.ConfigureAwait(false))
        {
            rows.Add(row);
        }

        foreach (var partition in rows.GroupBy(r => r.PartitionKey))
        {
            foreach (var chunk in partition.Chunk(100))
            {
                var deletes = chunk.Select(r => new TableTransactionAction(TableTransactionActionType.Delete, r, ETag.All)).ToList();
                await store.Tail.SubmitAsync(deletes, cancellationToken).ConfigureAwait(false);
            }
        }

        return rows.Count;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(FlushInterval, time, stoppingToken).ConfigureAwait(false);
                await FlushAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or TaskCanceledException)
            {
                // The sums are cumulative: the next flush writes them all.
                LogFlushFailed(logger, ex.GetType().Name);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or OperationCanceledException)
        {
            LogFlushFailed(logger, ex.GetType().Name);
        }
    }

    private sealed class Minute
    {
        public AggregateDelta Delta { get; } = new();

        public long Version { get; set; }

        public long Flushed { get; set; }

        /// <summary>Outgrew an entity: not written again (once logged); the fold counts the minute.</summary>
        public bool TooBig { get; set; }
    }

    [LoggerMessage(EventId = 5007, Level = LogLevel.Warning,
        Message = "This instance's tail sums of minute {Minute} outgrew a table entity; scrapes show that minute once it is folded.")]
    private static partial void LogTooBig(ILogger logger, string minute);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Warning, Message = "Writing this instance's tail sums failed ({Error}); the next flush writes them.")]
    private static partial void LogFlushFailed(ILogger logger, string error);
}
