using Azure;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Aggregation;

/// <summary>
/// Table housekeeping after a fold, at most once an hour per instance (any instance may do it), never failing the
/// fold: creates tomorrow's call table ahead of time, so the first write after midnight does not pay for it (a record
/// must be written within <c>Metrics__FoldLagSeconds</c> of its key's minute); deletes tail rows of minutes long
/// folded; and with <c>Storage__RetentionDays</c> set, drops the call tables of days older than that which the fold
/// has passed entirely (their records are in the state).
/// </summary>
internal sealed partial class TableHousekeeping(TableStore store, TailSummaries tail, DayRows days, TimeProvider time,
    IOptions<StorageOptions> options, ILogger<TableHousekeeping> logger)
{
    private readonly int _retentionDays = options.Value.RetentionDays;
    private DateTimeOffset _next;

    public bool IsDue => time.GetUtcNow() >= _next;

    /// <param name="watermark">The folded state's watermark; null before the first fold.</param>
    public async Task RunAsync(string? watermark, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (now < _next)
        {
            return;
        }

        _next = now.AddHours(1);
        try
        {
            await store.EnsureCallsTableAsync(RecordKeys.Minute(now.AddDays(1)), cancellationToken).ConfigureAwait(false);
            if (watermark is null)
            {
                return;
            }

            // Tail rows of minutes long folded are never read again; a few minutes' margin for late flushes.
            var folded = RecordKeys.ParseMinute(watermark);
            await tail.DeleteBeforeAsync(RecordKeys.Minute(folded.AddMinutes(-10)), cancellationToken).ConfigureAwait(false);
            await days.BuildAsync(watermark, cancellationToken).ConfigureAwait(false);
            if (_retentionDays > 0)
            {
                await ApplyRetentionAsync(now, folded, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            _next = now.AddMinutes(1);
            LogFailed(logger, ex.GetType().Name);
        }
    }

    private async Task ApplyRetentionAsync(DateTimeOffset now, DateTimeOffset folded, CancellationToken cancellationToken)
    {
        var keepFrom = DateOnly.FromDateTime(now.UtcDateTime).AddDays(-_retentionDays);
        var foldedDay = DateOnly.FromDateTime(folded.UtcDateTime);
        var before = TableNames.CallsFor(keepFrom < foldedDay ? keepFrom : foldedDay);
        foreach (var table in await store.AllCallTablesAsync(cancellationToken).ConfigureAwait(false))
        {
            if (string.CompareOrdinal(table, before) < 0)
            {
                await store.DeleteCallsTableAsync(table, cancellationToken).ConfigureAwait(false);
                LogRetention(logger, table);
            }
        }
    }

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning,
        Message = "Table housekeeping (tomorrow's table, tail rows, retention) failed ({Error}); retrying in a minute.")]
    private static partial void LogFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "Retention: dropped {Table}, whose records are all folded.")]
    private static partial void LogRetention(ILogger logger, string table);
}
