using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;

namespace LlmFunctions.Core.Records;

/// <summary>
/// The app's tables over the storage seam (<see cref="ITableService"/>): creates the fixed tables once, on first use,
/// and each daily call table (see <see cref="TableNames"/>) on its first write; writes, finds and lists call records.
/// </summary>
internal sealed partial class TableStore(ITableService tables, ILogger<TableStore> logger)
{
    private const string FixedTablesKey = "";

    // Creations that succeeded (or are under way) on this instance: the fixed tables ("") and each daily call table.
    private readonly ConcurrentDictionary<string, Task> _created = new(StringComparer.Ordinal);
    private long _shrunk;
    private long _lostToRefusal;

    /// <summary>The requests this instance has sent to storage.</summary>
    public StorageRequestCounter Requests => tables.Requests;

    public ITable Aggregates => tables.Table(TableNames.Aggregates);
    public ITable Rollups => tables.Table(TableNames.Rollups);
    public ITable BudgetEvents => tables.Table(TableNames.BudgetEvents);
    public ITable Tail => tables.Table(TableNames.Tail);
    public ITable Keys => tables.Table(TableNames.Keys);


    /// <summary>Creates the fixed tables if missing. A failure is not cached: the next call tries again.</summary>
    public Task EnsureTablesAsync(CancellationToken cancellationToken = default) =>
        OnceAsync(FixedTablesKey, CreateTablesAsync, cancellationToken);

    /// <summary>True when storage answers; used by <c>/health</c>.</summary>
    public async Task<bool> IsReachableAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(TimeSpan.FromSeconds(3));
            await EnsureTablesAsync(cts.Token).ConfigureAwait(false);
            await Aggregates.GetAsync("health", "health", ["PartitionKey"], cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogUnreachable(logger, ex.GetType().Name);
            return false;
        }
    }

    /// <summary>Creates the call table for this PartitionKey's day if this instance has not yet (idempotent anywhere).</summary>
    public Task EnsureCallsTableAsync(string partitionKey, CancellationToken cancellationToken = default)
    {
        var name = TableNames.CallsFor(partitionKey);
        return OnceAsync(name, () => tables.Table(name).CreateIfNotExistsAsync(CancellationToken.None), cancellationToken);
    }

    /// <summary>
    /// Writes call records that share one PartitionKey in one entity-group transaction (upserts keyed by call id), or a
    /// lone record as one insert, creating their day's table first if this instance has not yet. Writing a record
    /// that is already stored succeeds and leaves one copy.
    /// </summary>
    public async Task SubmitCallsAsync(string partitionKey, IReadOnlyList<CallRecord> records, CancellationToken cancellationToken = default)
    {
        await EnsureCallsTableAsync(partitionKey, cancellationToken).ConfigureAwait(false);
        if (records.Count == 1)
        {
            // One record (a lone caller's commit): a plain insert costs storage less than a one-entity transaction
            // (docs/architecture.md, "Writing records"). The RowKey is the call id, so a conflict can only be an earlier
            // attempt of this same write that committed without us hearing back: stored, not an error.
            try
            {
                await CallsTable(partitionKey).AddAsync(CallRecordMapper.ToEntity(records[0], partitionKey), cancellationToken).ConfigureAwait(false);
            }
            catch (RequestFailedException ex) when (ex.Status == 409 && ex.ErrorCode == "EntityAlreadyExists")
            {
            }

            return;
        }

        var actions = new List<TableTransactionAction>(records.Count);
        foreach (var record in records)
        {
            actions.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, CallRecordMapper.ToEntity(record, partitionKey)));
        }

        await CallsTable(partitionKey).SubmitAsync(actions, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes records as <see cref="SubmitCallsAsync"/> does, except that a record storage refuses (400 or 413: a value
    /// too large, a character it does not take) is that record's problem and nobody else's: the batch is split until
    /// the refused record is alone, the rest is committed, and the refused one is tried once more cut down to what
    /// bills it (<see cref="CallRecord.Shrink"/>). Returns the records stored: all but one refused even then (logged).
    /// Any other failure (storage unreachable, throttled) is thrown, as before.
    /// </summary>
    public async Task<IReadOnlyList<CallRecord>> StoreCallsAsync(string partitionKey, IReadOnlyList<CallRecord> records,
        CancellationToken cancellationToken = default)
    {
        try
        {
            await SubmitCallsAsync(partitionKey, records, cancellationToken).ConfigureAwait(false);
            return records;
        }
        catch (RequestFailedException ex) when (StorageFailure.IsRefusal(ex))
        {
            if (records.Count > 1)
            {
                var half = records.Count / 2;
                var first = await StoreCallsAsync(partitionKey, records.Take(half).ToList(), cancellationToken).ConfigureAwait(false);
                var second = await StoreCallsAsync(partitionKey, records.Skip(half).ToList(), cancellationToken).ConfigureAwait(false);
                return [.. first, .. second];
            }

            var record = records[0];
            if (record.Shrunk)
            {
                Interlocked.Increment(ref _lostToRefusal);
                LogRefusedTwice(logger, record.CallId, StorageFailure.Describe(ex));
                return [];
            }

            Interlocked.Increment(ref _shrunk);
            LogRefused(logger, record.CallId, StorageFailure.Describe(ex));
            record.Shrink();
            return await StoreCallsAsync(partitionKey, records, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Records storage refused whole and took cut down (<see cref="StoreCallsAsync"/>), since start.</summary>
    public long ShrunkRecords => Interlocked.Read(ref _shrunk);

    /// <summary>Records storage refused even cut down: lost, each logged as an error. Zero unless we have a defect.</summary>
    public long RecordsLostToRefusal => Interlocked.Read(ref _lostToRefusal);

    /// <summary>
    /// Which of these calls are stored under this PartitionKey: one range query over the partition (call ids are
    /// fixed-length hex), not a read per call; a day without a table has none.
    /// </summary>
    public async Task<HashSet<string>> StoredCallIdsAsync(string partitionKey, IReadOnlyCollection<string> callIds, CancellationToken cancellationToken)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        if (callIds.Count == 0)
        {
            return found;
        }

        var query = new TableQuery
        {
            PartitionKey = partitionKey,
            RowKeyFrom = callIds.Min(StringComparer.Ordinal),
            RowKeyBefore = callIds.Max(StringComparer.Ordinal) + "0", // just past the largest id: ids are all one length
            Select = ["PartitionKey", "RowKey"], // a key not selected is not returned
        };
        await foreach (var e in QueryCallTableAsync(TableNames.CallsFor(partitionKey), query, cancellationToken).ConfigureAwait(false))
        {
            if (callIds.Contains(e.RowKey))
            {
                found.Add(e.RowKey);
            }
        }

        return found;
    }

    private ITable CallsTable(string partitionKey) => tables.Table(TableNames.CallsFor(partitionKey));

    /// <summary>
    /// Runs a creation once per instance and remembers only its success: a failed or timed-out attempt (storage down
    /// at the first call) is forgotten, so the next caller tries again instead of failing forever.
    /// </summary>
    private async Task OnceAsync(string key, Func<Task> create, CancellationToken cancellationToken)
    {
        var task = _created.GetOrAdd(key, _ => create());
        try
        {
            await task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (task.IsFaulted || task.IsCanceled)
        {
            _created.TryRemove(new KeyValuePair<string, Task>(key, task));
            throw;
        }
    }

    /// <summary>
    /// Call records with <paramref name="fromPartitionKey"/> ≤ PartitionKey &lt; <paramref name="toPartitionKey"/>
    /// (no upper bound when null), through the daily tables up to <paramref name="lastDay"/>, in key order.
    /// A day without a table has no records.
    /// </summary>
    public async IAsyncEnumerable<TableEntity> QueryCallsAsync(string fromPartitionKey, string? toPartitionKey, DateOnly lastDay,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var query = new TableQuery { PartitionKeyFrom = fromPartitionKey, PartitionKeyBefore = toPartitionKey, Select = CallRecordMapper.AggregatedColumns };
        var days = await CallTablesAsync(TableNames.CallsFor(fromPartitionKey), TableNames.CallsFor(lastDay), cancellationToken).ConfigureAwait(false);
        foreach (var table in days)
        {
            await foreach (var e in QueryCallTableAsync(table, query, cancellationToken).ConfigureAwait(false))
            {
                yield return e;
            }
        }
    }

    /// <summary>The records of one day's call table that match <paramref name="query"/>; none when the table does not exist.</summary>
    public async IAsyncEnumerable<TableEntity> QueryCallTableAsync(string table, TableQuery query,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var rows = tables.Table(table).QueryAsync(query, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await rows.MoveNextAsync().ConfigureAwait(false);
                }
                catch (RequestFailedException ex) when (ex.Status == 404)
                {
                    more = false;
                }

                if (!more)
                {
                    break;
                }

                yield return rows.Current;
            }
        }
        finally
        {
            await rows.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The names of the call tables from <paramref name="first"/> to <paramref name="last"/> (inclusive), in day order.
    /// A span of up to three days is returned as is (querying a missing table is one cheap 404); a longer span is
    /// listed, so that catching up on a long history does not probe every empty day.
    /// </summary>
    public async Task<IReadOnlyList<string>> CallTablesAsync(string first, string last, CancellationToken cancellationToken)
    {
        if (!TableNames.TryParseCallsDay(first, out var from) || !TableNames.TryParseCallsDay(last, out var to) || from > to)
        {
            return [];
        }

        if (to.DayNumber - from.DayNumber < 3)
        {
            var days = new List<string>(3);
            for (var d = from; d <= to; d = d.AddDays(1))
            {
                days.Add(TableNames.CallsFor(d));
            }

            return days;
        }

        var names = new List<string>();
        foreach (var name in await AllCallTablesAsync(cancellationToken).ConfigureAwait(false))
        {
            if (string.CompareOrdinal(name, first) >= 0 && string.CompareOrdinal(name, last) <= 0)
            {
                names.Add(name);
            }
        }

        return names;
    }

    /// <summary>The PartitionKey of the oldest call record stored, or null when there is none.</summary>
    public async Task<string?> FirstCallPartitionKeyAsync(CancellationToken cancellationToken)
    {
        foreach (var table in await AllCallTablesAsync(cancellationToken).ConfigureAwait(false))
        {
            var first = tables.Table(table).QueryAsync(new TableQuery { Select = ["PartitionKey"], Take = 1 }, cancellationToken);
            await foreach (var e in first.ConfigureAwait(false))
            {
                return e.PartitionKey;
            }
        }

        return null;
    }

    /// <summary>Every daily call table in the account, oldest first.</summary>
    public async Task<List<string>> AllCallTablesAsync(CancellationToken cancellationToken)
    {
        var names = new List<string>();
        await foreach (var name in tables.TableNamesAsync(cancellationToken).ConfigureAwait(false))
        {
            if (TableNames.TryParseCallsDay(name, out _))
            {
                names.Add(name);
            }
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>Deletes a whole day of call records (retention). Idempotent.</summary>
    public async Task DeleteCallsTableAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            await tables.DeleteTableAsync(name, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 409)
        {
            // Already gone, or another instance is deleting it.
        }

        _created.TryRemove(name, out _);
    }

    private async Task CreateTablesAsync()
    {
        foreach (var name in TableNames.Fixed)
        {
            await tables.Table(name).CreateIfNotExistsAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning,
        Message = "Storage refused the record of call {CallId} ({Error}); storing it cut down to what bills it, the rest of its batch as usual.")]
    private static partial void LogRefused(ILogger logger, string callId, string error);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "Storage refused the record of call {CallId} even cut down ({Error}): it is lost.")]
    private static partial void LogRefusedTwice(ILogger logger, string callId, string error);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "Table Storage is not reachable ({Error}).")]
    private static partial void LogUnreachable(ILogger logger, string error);
}
