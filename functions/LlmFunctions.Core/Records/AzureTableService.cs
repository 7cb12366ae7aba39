using System.Runtime.CompilerServices;
using Azure;
using Azure.Core;
using Azure.Data.Tables;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Records;

/// <summary>
/// Table Storage: a connection string (Azurite locally) or, when <c>Storage__TableServiceUri</c> is set, the table
/// endpoint with managed identity.
/// </summary>
internal sealed class AzureTableService : ITableService
{
    private readonly TableServiceClient _service;

    public AzureTableService(IOptions<StorageOptions> options, TokenCredential credential)
    {
        var o = options.Value;
        var clientOptions = new TableClientOptions();

        // Our callers retry on their own terms (the writer spools after two quick attempts, the fold and the rollup
        // run again on the next scrape or tick), so each storage call fails fast instead of hanging in SDK retries.
        clientOptions.Retry.MaxRetries = 0;
        clientOptions.Retry.NetworkTimeout = TimeSpan.FromSeconds(3);
        clientOptions.AddPolicy(Requests, HttpPipelinePosition.PerRetry);
        _service = string.IsNullOrWhiteSpace(o.TableServiceUri)
            ? new TableServiceClient(o.ConnectionString, clientOptions)
            : new TableServiceClient(new Uri(o.TableServiceUri), credential, clientOptions);
    }

    public StorageRequestCounter Requests { get; } = new();

    public ITable Table(string name) => new AzureTable(_service.GetTableClient(name));

    public async IAsyncEnumerable<string> TableNamesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var t in _service.QueryAsync(cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            yield return t.Name;
        }
    }

    public Task DeleteTableAsync(string name, CancellationToken cancellationToken) => _service.DeleteTableAsync(name, cancellationToken);

    private sealed class AzureTable(TableClient table) : ITable
    {
        public Task CreateIfNotExistsAsync(CancellationToken cancellationToken) => table.CreateIfNotExistsAsync(cancellationToken);

        public async Task<TableEntity?> GetAsync(string partitionKey, string rowKey, IReadOnlyList<string>? select, CancellationToken cancellationToken)
        {
            var found = await table.GetEntityIfExistsAsync<TableEntity>(partitionKey, rowKey, select, cancellationToken).ConfigureAwait(false);
            return found.HasValue ? found.Value : null;
        }

        public async IAsyncEnumerable<TableEntity> QueryAsync(TableQuery query, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            var left = query.Take ?? int.MaxValue;
            var pages = table.QueryAsync<TableEntity>(query.ToFilter(), maxPerPage: query.Take is { } take ? Math.Min(take, 1000) : null,
                select: query.Select, cancellationToken: cancellationToken);
            await foreach (var e in pages.ConfigureAwait(false))
            {
                yield return e;
                if (--left == 0)
                {
                    yield break;
                }
            }
        }

        public Task AddAsync(TableEntity entity, CancellationToken cancellationToken) => table.AddEntityAsync(entity, cancellationToken);

        public Task UpsertAsync(TableEntity entity, CancellationToken cancellationToken) =>
            table.UpsertEntityAsync(entity, TableUpdateMode.Replace, cancellationToken);

        public async Task<ETag> ReplaceAsync(TableEntity entity, ETag ifMatch, CancellationToken cancellationToken)
        {
            var response = await table.UpdateEntityAsync(entity, ifMatch, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
            return response.Headers.ETag ?? ifMatch;
        }

        public Task SubmitAsync(IReadOnlyList<TableTransactionAction> actions, CancellationToken cancellationToken) =>
            table.SubmitTransactionAsync(actions, cancellationToken);
    }
}
