using System.Runtime.CompilerServices;
using Azure;
using Azure.Data.Tables;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>
/// The storage seam in memory, for fast tests of the writer, fold, rollup and enforcer beside the Azurite ones. It
/// keeps Table Storage's rules that our code relies on: keys ordered ordinally, 404 for a missing table, 409 on a
/// duplicate insert, 412 on a stale ETag, all-or-nothing transactions, a new ETag per write. Several service
/// providers may share one, as instances share an account. <see cref="Down"/> fails every request, as an outage.
/// Writes are held to Table Storage's size, property and key limits (<see cref="TableStorageLimits"/>), which Azurite
/// does not all enforce.
/// </summary>
internal sealed class InMemoryTables : ITableService
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, SortedDictionary<(string, string), TableEntity>> _tables = new(StringComparer.Ordinal);
    private long _etag;

    public StorageRequestCounter Requests { get; } = new();

    /// <summary>While true, every request fails as an unreachable account does (status 0, after it is counted).</summary>
    public bool Down { get; set; }

    /// <summary>The share of requests answered 503 <c>ServerBusy</c> before they run, as Table Storage throttles.</summary>
    public double ServerBusyRate { get; set; }

    /// <summary>The share of writes answered 500 <c>OperationTimedOut</c> after they committed, as Table Storage may.</summary>
    public double TimeoutAfterCommitRate { get; set; }

    /// <summary>Requests answered 503 or 500 by <see cref="ServerBusyRate"/> and <see cref="TimeoutAfterCommitRate"/>.</summary>
    public long Faults { get; private set; }

    private readonly Random _faults = new(20261206);

    /// <summary>
    /// An entity this answers 400 for, as Table Storage refuses what we did not foresee (the limits are enforced anyway).
    /// </summary>
    public Func<TableEntity, bool>? Refuses { get; set; }

    /// <summary>Runs before each query (table name, query): a test's way to make something happen during a read.</summary>
    public Func<string, TableQuery, Task>? BeforeQuery { get; set; }

    /// <summary>Called with the table's name before each write of entities (a transaction, an insert, an upsert or a
    /// replace) is applied: an outage can start between two, or the clock move.</summary>
    public Action<string>? BeforeWrite { get; set; }

    /// <summary>
    /// Rows a query had to read: those within its key bounds (Table Storage filters other properties after reading the
    /// rows), and one per point read. What a read costs as history grows.
    /// </summary>
    public long ScannedRows => Interlocked.Read(ref _scanned);

    private long _scanned;

    /// <summary>Requests made, including those that failed.</summary>
    public long RequestCount => Requests.Reads + Requests.Writes;

    public ITable Table(string name) => new MemoryTable(this, name);

    public async IAsyncEnumerable<string> TableNamesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        List<string> names;
        lock (_lock)
        {
            Enter();
            names = [.. _tables.Keys.Order(StringComparer.Ordinal)];
        }

        foreach (var name in names)
        {
            await Task.Yield();
            yield return name;
        }
    }

    public Task DeleteTableAsync(string name, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            Enter(write: true);
            if (!_tables.Remove(name))
            {
                throw new RequestFailedException(404, "The table does not exist.", "TableNotFound", null);
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>A copy of every entity of a table, in key order (empty when there is no such table).</summary>
    public List<TableEntity> Entities(string name)
    {
        lock (_lock)
        {
            return _tables.TryGetValue(name, out var rows) ? [.. rows.Values.Select(Copy)] : [];
        }
    }

    /// <summary>Every entity of every table whose name starts with <paramref name="prefix"/>.</summary>
    public List<TableEntity> EntitiesOf(string prefix)
    {
        lock (_lock)
        {
            return [.. _tables.Where(t => t.Key.StartsWith(prefix, StringComparison.Ordinal)).SelectMany(t => t.Value.Values).Select(Copy)];
        }
    }

    // Under _lock.
    private void Enter(bool write = false)
    {
        Requests.Count(write);
        if (Down)
        {
            throw new RequestFailedException(0, "Connection refused (in-memory outage).", null, new HttpRequestException("Connection refused"));
        }

        if (ServerBusyRate > 0 && _faults.NextDouble() < ServerBusyRate)
        {
            Faults++;
            throw new RequestFailedException(503, "The server is busy (in-memory fault).", "ServerBusy", null);
        }
    }

    // Under _lock, after a write applied: answers as if it timed out, at TimeoutAfterCommitRate.
    private void AfterWrite()
    {
        if (TimeoutAfterCommitRate > 0 && _faults.NextDouble() < TimeoutAfterCommitRate)
        {
            Faults++;
            throw new RequestFailedException(500, "The operation timed out (in-memory fault, after committing).", "OperationTimedOut", null);
        }
    }

    // Under _lock, after Enter: what Table Storage would refuse about this entity.
    private void CheckWrite(ITableEntity entity)
    {
        TableStorageLimits.Check(entity);
        if (entity is TableEntity e && Refuses?.Invoke(e) == true)
        {
            throw new RequestFailedException(400, "The entity was refused (test).", "InvalidInput", null);
        }
    }

    private SortedDictionary<(string, string), TableEntity> Rows(string name) =>
        _tables.TryGetValue(name, out var rows) ? rows : throw new RequestFailedException(404, "The table does not exist.", "TableNotFound", null);

    private static TableEntity Copy(TableEntity e)
    {
        var copy = new TableEntity(e) { ETag = e.ETag, Timestamp = e.Timestamp };
        return copy;
    }

    private static TableEntity Select(TableEntity e, IEnumerable<string>? columns)
    {
        if (columns is null)
        {
            return Copy(e);
        }

        // As Table Storage answers a $select: a key that is not selected is not returned either.
        var selected = columns as IReadOnlyCollection<string> ?? [.. columns];
        var picked = new TableEntity
        {
            PartitionKey = selected.Contains("PartitionKey") ? e.PartitionKey : null,
            RowKey = selected.Contains("RowKey") ? e.RowKey : null,
            ETag = e.ETag,
            Timestamp = e.Timestamp,
        };
        foreach (var c in selected)
        {
            if (e.TryGetValue(c, out var v) && c is not "PartitionKey" and not "RowKey")
            {
                picked[c] = v;
            }
        }

        return picked;
    }

    private TableEntity Stored(TableEntity e)
    {
        var copy = Copy(e);
        copy.ETag = new ETag("W/\"" + Interlocked.Increment(ref _etag) + "\"");
        copy.Timestamp = DateTimeOffset.UtcNow;
        return copy;
    }

    private sealed class MemoryTable(InMemoryTables owner, string name) : ITable
    {
        public Task CreateIfNotExistsAsync(CancellationToken cancellationToken)
        {
            lock (owner._lock)
            {
                owner.Enter(write: true);
                owner._tables.TryAdd(name, new SortedDictionary<(string, string), TableEntity>(KeyComparer.Instance));
            }

            return Task.CompletedTask;
        }

        public Task<TableEntity?> GetAsync(string partitionKey, string rowKey, IReadOnlyList<string>? select, CancellationToken cancellationToken)
        {
            lock (owner._lock)
            {
                owner.Enter();
                owner._scanned++;
                return Task.FromResult(owner.Rows(name).TryGetValue((partitionKey, rowKey), out var e) ? Select(e, select) : null);
            }
        }

        public async IAsyncEnumerable<TableEntity> QueryAsync(TableQuery query, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            if (owner.BeforeQuery is { } before)
            {
                await before(name, query);
            }

            List<TableEntity> found;
            lock (owner._lock)
            {
                owner.Enter();
                var rows = owner.Rows(name).Values;
                var keys = query with { PropertyEquals = null };
                owner._scanned += rows.Count(keys.Matches);
                found = [.. rows.Where(query.Matches).Take(query.Take ?? int.MaxValue).Select(e => Select(e, query.Select))];
            }

            foreach (var e in found)
            {
                await Task.Yield();
                yield return e;
            }
        }

        public Task AddAsync(TableEntity entity, CancellationToken cancellationToken)
        {
            owner.BeforeWrite?.Invoke(name);
            lock (owner._lock)
            {
                owner.Enter(write: true);
                owner.CheckWrite(entity);
                if (!owner.Rows(name).TryAdd((entity.PartitionKey, entity.RowKey), owner.Stored(entity)))
                {
                    throw new RequestFailedException(409, "The specified entity already exists.", "EntityAlreadyExists", null);
                }

                owner.AfterWrite();
            }

            return Task.CompletedTask;
        }

        public Task UpsertAsync(TableEntity entity, CancellationToken cancellationToken)
        {
            owner.BeforeWrite?.Invoke(name);
            lock (owner._lock)
            {
                owner.Enter(write: true);
                owner.CheckWrite(entity);
                owner.Rows(name)[(entity.PartitionKey, entity.RowKey)] = owner.Stored(entity);
                owner.AfterWrite();
            }

            return Task.CompletedTask;
        }

        public Task<ETag> ReplaceAsync(TableEntity entity, ETag ifMatch, CancellationToken cancellationToken)
        {
            owner.BeforeWrite?.Invoke(name);
            lock (owner._lock)
            {
                owner.Enter(write: true);
                owner.CheckWrite(entity);
                var rows = owner.Rows(name);
                var key = (entity.PartitionKey, entity.RowKey);
                if (!rows.TryGetValue(key, out var current))
                {
                    throw new RequestFailedException(404, "The specified resource does not exist.", "ResourceNotFound", null);
                }

                if (ifMatch != ETag.All && current.ETag != ifMatch)
                {
                    throw new RequestFailedException(
                        412, "The update condition specified in the request was not satisfied.", "UpdateConditionNotSatisfied", null);
                }

                var stored = owner.Stored(entity);
                rows[key] = stored;
                return Task.FromResult(stored.ETag);
            }
        }

        public Task SubmitAsync(IReadOnlyList<TableTransactionAction> actions, CancellationToken cancellationToken)
        {
            owner.BeforeWrite?.Invoke(name); // outside the lock: it may move the clock, which runs timers' work
            lock (owner._lock)
            {
                owner.Enter(write: true);
                var rows = owner.Rows(name);
                if (actions.Count is 0 or > 100 || actions.Select(a => a.Entity.PartitionKey).Distinct().Count() != 1)
                {
                    throw new RequestFailedException(400, "A transaction holds 1 to 100 actions on one partition.", "InvalidInput", null);
                }

                try
                {
                    TableStorageLimits.CheckTransaction(actions);
                    foreach (var a in actions.Where(a => a.ActionType != TableTransactionActionType.Delete))
                    {
                        owner.CheckWrite(a.Entity);
                    }
                }
                catch (RequestFailedException ex) when (ex.Status == 400)
                {
                    // One entity's refusal fails the whole transaction, as Azure's batch answer does.
                    throw new TableTransactionFailedException(ex);
                }

                // Checked first, applied after: all or nothing.
                var staged = new Dictionary<(string, string), TableEntity?>();
                foreach (var a in actions)
                {
                    var key = (a.Entity.PartitionKey, a.Entity.RowKey);
                    var exists = staged.TryGetValue(key, out var s) ? s is not null : rows.ContainsKey(key);
                    var status = a.ActionType switch
                    {
                        TableTransactionActionType.Add when exists => 409,
                        TableTransactionActionType.UpdateReplace or TableTransactionActionType.UpdateMerge or TableTransactionActionType.Delete
                            when !exists => 404,
                        TableTransactionActionType.UpdateReplace or TableTransactionActionType.UpdateMerge or TableTransactionActionType.Delete
                            when a.ETag != ETag.All && a.ETag != default && rows[key].ETag != a.ETag => 412,
                        _ => 0,
                    };
                    if (status != 0)
                    {
                        throw new TableTransactionFailedException(new RequestFailedException(status, "A transaction action failed.", null, null));
                    }

                    staged[key] = a.ActionType == TableTransactionActionType.Delete ? null : owner.Stored(ToEntity(a.Entity));
                }

                foreach (var (key, entity) in staged)
                {
                    if (entity is null)
                    {
                        rows.Remove(key);
                    }
                    else
                    {
                        rows[key] = entity;
                    }
                }

                owner.AfterWrite();
            }

            return Task.CompletedTask;
        }

        private static TableEntity ToEntity(ITableEntity e) =>
            e as TableEntity ?? throw new NotSupportedException("The in-memory tables take TableEntity only.");
    }

    private sealed class KeyComparer : IComparer<(string, string)>
    {
        public static readonly KeyComparer Instance = new();

        public int Compare((string, string) x, (string, string) y)
        {
            var c = string.CompareOrdinal(x.Item1, y.Item1);
            return c != 0 ? c : string.CompareOrdinal(x.Item2, y.Item2);
        }
    }
}
