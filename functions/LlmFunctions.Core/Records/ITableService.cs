using Azure;
using Azure.Data.Tables;

namespace LlmFunctions.Core.Records;

/// <summary>
/// The storage seam: the table operations the app performs, nothing more. <see cref="AzureTableService"/> is Table
/// Storage (Azurite locally); tests also run the writer, fold, rollup and enforcer over an in-memory one. Errors are
/// Table Storage's: <see cref="RequestFailedException"/> with its status (404 no table, 409 exists, 412 stale ETag),
/// <see cref="TableTransactionFailedException"/> for a transaction.
/// </summary>
internal interface ITableService
{
    /// <summary>The requests sent to storage by this instance.</summary>
    StorageRequestCounter Requests { get; }

    ITable Table(string name);

    /// <summary>Every table's name.</summary>
    IAsyncEnumerable<string> TableNamesAsync(CancellationToken cancellationToken);

    /// <summary>Deletes a table; 404 when it does not exist.</summary>
    Task DeleteTableAsync(string name, CancellationToken cancellationToken);
}

/// <summary>One table, through the operations the app uses.</summary>
internal interface ITable
{
    Task CreateIfNotExistsAsync(CancellationToken cancellationToken);

    /// <summary>The entity, or null when there is none (the table must exist).</summary>
    Task<TableEntity?> GetAsync(string partitionKey, string rowKey, IReadOnlyList<string>? select, CancellationToken cancellationToken);

    /// <summary>The entities that match, in key order; 404 when the table does not exist.</summary>
    IAsyncEnumerable<TableEntity> QueryAsync(TableQuery query, CancellationToken cancellationToken);

    /// <summary>Inserts; 409 when an entity with these keys exists.</summary>
    Task AddAsync(TableEntity entity, CancellationToken cancellationToken);

    /// <summary>Inserts or replaces.</summary>
    Task UpsertAsync(TableEntity entity, CancellationToken cancellationToken);

    /// <summary>Replaces the entity if it still has <paramref name="ifMatch"/>; 412 otherwise. Returns the new ETag.</summary>
    Task<ETag> ReplaceAsync(TableEntity entity, ETag ifMatch, CancellationToken cancellationToken);

    /// <summary>An entity-group transaction (one PartitionKey, at most 100 actions): all or nothing.</summary>
    Task SubmitAsync(IReadOnlyList<TableTransactionAction> actions, CancellationToken cancellationToken);
}

/// <summary>
/// A query, as typed bounds instead of an OData string: each bound that is set must hold. Keys compare ordinally.
/// </summary>
internal sealed record TableQuery
{
    public string? PartitionKey { get; init; }

    /// <summary>PartitionKey ≥ this.</summary>
    public string? PartitionKeyFrom { get; init; }

    /// <summary>PartitionKey &lt; this.</summary>
    public string? PartitionKeyBefore { get; init; }

    /// <summary>PartitionKey &gt; this.</summary>
    public string? PartitionKeyAfter { get; init; }

    public string? RowKey { get; init; }

    /// <summary>RowKey ≥ this.</summary>
    public string? RowKeyFrom { get; init; }

    /// <summary>RowKey &lt; this.</summary>
    public string? RowKeyBefore { get; init; }

    /// <summary>RowKey &gt; this.</summary>
    public string? RowKeyAfter { get; init; }

    /// <summary>A string property that must equal a value.</summary>
    public (string Name, string Value)? PropertyEquals { get; init; }

    /// <summary>The columns to return (keys always); null: all.</summary>
    public IEnumerable<string>? Select { get; init; }

    /// <summary>At most this many entities; null: all.</summary>
    public int? Take { get; init; }

    public static readonly TableQuery All = new();

    /// <summary>The OData filter for Table Storage; null when there is no bound.</summary>
    public string? ToFilter()
    {
        var parts = new List<string>(6);
        Add(parts, PartitionKey, "PartitionKey eq {0}");
        Add(parts, PartitionKeyFrom, "PartitionKey ge {0}");
        Add(parts, PartitionKeyBefore, "PartitionKey lt {0}");
        Add(parts, PartitionKeyAfter, "PartitionKey gt {0}");
        Add(parts, RowKey, "RowKey eq {0}");
        Add(parts, RowKeyFrom, "RowKey ge {0}");
        Add(parts, RowKeyBefore, "RowKey lt {0}");
        Add(parts, RowKeyAfter, "RowKey gt {0}");
        if (PropertyEquals is var (name, value))
        {
            parts.Add(name + " eq " + TableClient.CreateQueryFilter($"{value}"));
        }

        return parts.Count == 0 ? null : string.Join(" and ", parts);
    }

    /// <summary>Whether an entity meets every bound (for stores that filter themselves).</summary>
    public bool Matches(TableEntity e) =>
        (PartitionKey is null || e.PartitionKey == PartitionKey)
        && (PartitionKeyFrom is null || string.CompareOrdinal(e.PartitionKey, PartitionKeyFrom) >= 0)
        && (PartitionKeyBefore is null || string.CompareOrdinal(e.PartitionKey, PartitionKeyBefore) < 0)
        && (PartitionKeyAfter is null || string.CompareOrdinal(e.PartitionKey, PartitionKeyAfter) > 0)
        && (RowKey is null || e.RowKey == RowKey)
        && (RowKeyFrom is null || string.CompareOrdinal(e.RowKey, RowKeyFrom) >= 0)
        && (RowKeyBefore is null || string.CompareOrdinal(e.RowKey, RowKeyBefore) < 0)
        && (RowKeyAfter is null || string.CompareOrdinal(e.RowKey, RowKeyAfter) > 0)
        && (PropertyEquals is not var (name, value) || e.GetString(name) == value);

    private static void Add(List<string> parts, string? value, string format)
    {
        if (value is not null)
        {
            parts.Add(string.Format(System.Globalization.CultureInfo.InvariantCulture, format, TableClient.CreateQueryFilter($"{value}")));
        }
    }
}
