using Azure.Data.Tables;
using Azure.Identity;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Records;

/// <summary>
/// The Table Storage account: a connection string (Azurite locally) or, when <c>Storage__TableServiceUri</c>
/// is set, the table endpoint with managed identity. Creates the app's tables once, on first use.
/// </summary>
internal sealed partial class TableStore
{
    private readonly TableServiceClient _service;
    private readonly ILogger<TableStore> _logger;
    private readonly Lazy<Task> _ensureTables;

    public TableStore(IOptions<StorageOptions> options, ILogger<TableStore> logger)
    {
        _logger = logger;
        var o = options.Value;
        var clientOptions = new TableClientOptions();
        // Our callers retry on their own terms (the writer spools after two quick attempts, the fold and the rollup
        // run again on the next scrape or tick), so each storage call fails fast instead of hanging in SDK retries.
        clientOptions.Retry.MaxRetries = 0;
        clientOptions.Retry.NetworkTimeout = TimeSpan.FromSeconds(3);
        _service = string.IsNullOrWhiteSpace(o.TableServiceUri)
            ? new TableServiceClient(o.ConnectionString, clientOptions)
            : new TableServiceClient(new Uri(o.TableServiceUri), new DefaultAzureCredential(), clientOptions);
        _ensureTables = new Lazy<Task>(CreateTablesAsync, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public TableClient Calls => _service.GetTableClient(TableNames.Calls);
    public TableClient Aggregates => _service.GetTableClient(TableNames.Aggregates);
    public TableClient Rollups => _service.GetTableClient(TableNames.Rollups);
    public TableClient BudgetEvents => _service.GetTableClient(TableNames.BudgetEvents);

    /// <summary>Creates the tables if missing. A failure is not cached: the next call tries again.</summary>
    public async Task EnsureTablesAsync(CancellationToken cancellationToken = default)
    {
        var task = _ensureTables.Value;
        try
        {
            await task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (task.IsFaulted)
        {
            // Retry on the next call rather than caching the failure forever.
            await CreateTablesAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>True when storage answers; used by <c>/health</c>.</summary>
    public async Task<bool> IsReachableAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(TimeSpan.FromSeconds(3));
            await EnsureTablesAsync(cts.Token).ConfigureAwait(false);
            await foreach (var _ in Calls.QueryAsync<TableEntity>(filter: "PartitionKey eq 'health'", maxPerPage: 1, select: ["PartitionKey"], cancellationToken: cts.Token).ConfigureAwait(false))
            {
                break;
            }

            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogUnreachable(_logger, ex.GetType().Name);
            return false;
        }
    }

    private async Task CreateTablesAsync()
    {
        foreach (var name in TableNames.All)
        {
            await _service.GetTableClient(name).CreateIfNotExistsAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "Table Storage is not reachable ({Error}).")]
    private static partial void LogUnreachable(ILogger logger, string error);
}
