using Azure;
using Azure.Data.Tables;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Keys;

/// <summary>
/// Virtual keys in Table Storage (<see cref="KeyRows"/>). Every change is one entity-group transaction that bumps the
/// change number, writes the key, its change log row and its audit row, and on creation takes the name: all or nothing.
/// Two admin calls at once cannot both commit on the same number (the number's ETag), so the loser reads again and
/// retries (<see cref="OptimisticConcurrency"/>); the log's numbers have no gaps, which lets an instance tell a missed
/// change from none.
/// </summary>
internal sealed class KeyStore(TableStore store, TimeProvider time)
{
    private const int Attempts = 10;

    private readonly Polly.ResiliencePipeline<Commit> _retry =
        OptimisticConcurrency.Retry<Commit>(time, Attempts, c => c.Outcome == CommitOutcome.Lost, _ => OptimisticConcurrency.Jittered(5, 50));

    public enum CommitOutcome { Done, Lost, NameTaken, NotFound, Refused, Unchanged }

    /// <summary>What one attempt did: the key as committed, or why not (<see cref="Refusal"/> when the change refused itself).</summary>
    public sealed record Commit(CommitOutcome Outcome, VirtualKey? Key = null, KeyEvent? Event = null, string? Refusal = null);

    /// <summary>A change to a key as read: the new key and the audit's changes; or no key, and a refusal or (null) nothing to change.</summary>
    public delegate (VirtualKey? Changed, string Action, string Changes, string? Refusal) Change(VirtualKey current, DateTimeOffset now);

    /// <summary>Stores a new key, taking its name for good. <see cref="CommitOutcome.NameTaken"/> when a key ever had it.</summary>
    public async Task<Commit> CreateAsync(VirtualKey key, string changes, string caller, CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        return await _retry.ExecuteAsync(async ct =>
        {
            if (await store.Keys.GetAsync(KeyRows.Partition, KeyRows.NameRow(key.Name), ["PartitionKey"], ct).ConfigureAwait(false) is not null)
            {
                return new Commit(CommitOutcome.NameTaken);
            }

            var name = new TableEntity(KeyRows.Partition, KeyRows.NameRow(key.Name)) { ["KeyId"] = key.Id };
            return await CommitAsync(key, keyETag: null, name, "create", changes, caller, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the key, applies <paramref name="change"/> and commits it, again on a fresh read when another change won.</summary>
    public async Task<Commit> ChangeAsync(string id, Change change, string caller, CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        return await _retry.ExecuteAsync(async ct =>
        {
            var row = await store.Keys.GetAsync(KeyRows.Partition, KeyRows.KeyRow(id), select: null, ct).ConfigureAwait(false);
            if (row is null)
            {
                return new Commit(CommitOutcome.NotFound);
            }

            var (changed, action, changes, refusal) = change(KeyRows.FromEntity(row), time.GetUtcNow());
            return changed is null
                ? new Commit(refusal is null ? CommitOutcome.Unchanged : CommitOutcome.Refused, KeyRows.FromEntity(row), Refusal: refusal)
                : await CommitAsync(changed, row.ETag, name: null, action, changes, caller, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Commit> CommitAsync(VirtualKey key, ETag? keyETag, TableEntity? name, string action, string changes, string caller,
        CancellationToken cancellationToken)
    {
        var seqRow = await store.Keys.GetAsync(KeyRows.Partition, KeyRows.SeqRow, select: null, cancellationToken).ConfigureAwait(false);
        var seq = (seqRow?.GetInt64("Value") ?? 0) + 1;
        var committed = key with { Seq = seq };
        var audit = new KeyEvent(seq, time.GetUtcNow(), key.Id, action, changes, caller);
        var next = new TableEntity(KeyRows.Partition, KeyRows.SeqRow) { ["Value"] = seq };
        List<TableTransactionAction> actions =
        [
            seqRow is null
                ? new(TableTransactionActionType.Add, next)
                : new(TableTransactionActionType.UpdateReplace, next, seqRow.ETag),
            keyETag is { } etag
                ? new(TableTransactionActionType.UpdateReplace, KeyRows.ToEntity(committed, KeyRows.KeyRow(key.Id)), etag)
                : new(TableTransactionActionType.Add, KeyRows.ToEntity(committed, KeyRows.KeyRow(key.Id))),
            new(TableTransactionActionType.Add, KeyRows.ToEntity(committed, KeyRows.ChangeRow(seq))),
            new(TableTransactionActionType.Add, audit.ToEntity()),
        ];
        if (name is not null)
        {
            actions.Add(new(TableTransactionActionType.Add, name));
        }

        try
        {
            await store.Keys.SubmitAsync(actions, cancellationToken).ConfigureAwait(false);
            return new Commit(CommitOutcome.Done, committed, audit);
        }
        catch (TableTransactionFailedException ex) when (ex.Status is 409 or 412)
        {
            return new Commit(CommitOutcome.Lost); // another change took this number, or this name: read again
        }
    }

    public async Task<VirtualKey?> GetAsync(string id, CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var row = await store.Keys.GetAsync(KeyRows.Partition, KeyRows.KeyRow(id), select: null, cancellationToken).ConfigureAwait(false);
        return row is null ? null : KeyRows.FromEntity(row);
    }

    /// <summary>Up to <paramref name="take"/> keys in id order, after the id <paramref name="after"/> (from the first when null).</summary>
    public async Task<List<VirtualKey>> PageAsync(string? after, int take, CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var keys = new List<VirtualKey>(take);
        var query = after is null
            ? new TableQuery { PartitionKey = KeyRows.Partition, RowKeyFrom = KeyRows.KeyPrefix, RowKeyBefore = "k;", Take = take }
            : new TableQuery { PartitionKey = KeyRows.Partition, RowKeyAfter = KeyRows.KeyRow(after), RowKeyBefore = "k;", Take = take };
        await foreach (var row in store.Keys.QueryAsync(query, cancellationToken).ConfigureAwait(false))
        {
            keys.Add(KeyRows.FromEntity(row));
        }

        return keys;
    }

    /// <summary>Every key, and the number of the last change they include (read first, so a later change is never missed).</summary>
    public async Task<(long Seq, List<VirtualKey> Keys)> LoadAsync(CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var seqRow = await store.Keys.GetAsync(KeyRows.Partition, KeyRows.SeqRow, ["Value"], cancellationToken).ConfigureAwait(false);
        var keys = new List<VirtualKey>();
        var query = new TableQuery { PartitionKey = KeyRows.Partition, RowKeyFrom = KeyRows.KeyPrefix, RowKeyBefore = "k;" };
        await foreach (var row in store.Keys.QueryAsync(query, cancellationToken).ConfigureAwait(false))
        {
            keys.Add(KeyRows.FromEntity(row));
        }

        return (seqRow?.GetInt64("Value") ?? 0, keys);
    }

    /// <summary>The keys as the changes after <paramref name="seq"/> left them, in order: one range query, empty most of the time.</summary>
    public async Task<List<VirtualKey>> ChangesAfterAsync(long seq, CancellationToken cancellationToken)
    {
        var changes = new List<VirtualKey>();
        var query = new TableQuery { PartitionKey = KeyRows.Partition, RowKeyAfter = KeyRows.ChangeRow(seq), RowKeyBefore = "c;" };
        await foreach (var row in store.Keys.QueryAsync(query, cancellationToken).ConfigureAwait(false))
        {
            changes.Add(KeyRows.FromEntity(row));
        }

        return changes;
    }

    /// <summary>Up to <paramref name="limit"/> of a key's audit rows after change <paramref name="afterSeq"/>, oldest first.</summary>
    public async Task<List<KeyEvent>> EventsAsync(string id, long afterSeq, int limit, CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var prefix = KeyRows.EventPrefix(id);
        var query = new TableQuery
        {
            PartitionKey = KeyRows.Partition, RowKeyAfter = KeyRows.EventRow(id, afterSeq), RowKeyBefore = prefix[..^1] + ";", Take = limit,
        };
        var events = new List<KeyEvent>(limit);
        await foreach (var row in store.Keys.QueryAsync(query, cancellationToken).ConfigureAwait(false))
        {
            events.Add(KeyEvent.FromEntity(row));
        }

        return events;
    }
}
