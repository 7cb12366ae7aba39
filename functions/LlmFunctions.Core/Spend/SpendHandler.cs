using System.Text.Json;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Spend;

/// <summary>
/// <c>GET /spend</c> (a report), <c>GET /spend/calls</c> (pages of records) and <c>GET /spend/me</c> (a client's spend and
/// budgets), outside <c>/v1</c> so nothing here is ever forwarded. The admin key reads every client; a client key reads
/// its own spend only. Every refusal is a row of the one failure table (<see cref="ApiFailure"/>).
/// </summary>
internal sealed partial class SpendHandler(
    SpendAuthenticator authenticator, SpendRateLimiter limiter, SpendReport report, CallsPage calls, BudgetSpend budgets,
    IOptions<BudgetsOptions> budgetOptions, ILogger<SpendHandler> logger)
{
    private readonly string _timeZone = budgetOptions.Value.TimeZone;

    public Task ReportAsync(HttpContext context) => RunAsync(context, async (caller, ct) =>
    {
        var (query, error) = SpendQuery.ForReport(context.Request, report.Today);
        if (query is null)
        {
            return ApiFailure.BadQuery(error!);
        }

        if (Scoped(caller, query) is not { } scoped)
        {
            return NotYours;
        }

        var result = await report.RunAsync(scoped, ct).ConfigureAwait(false);
        if (scoped.Csv)
        {
            context.Response.ContentType = "text/csv; charset=utf-8";
            await context.Response.WriteAsync(SpendWriter.ReportCsv(result), ct).ConfigureAwait(false);
        }
        else
        {
            await JsonResponse.WriteAsync(context, 200, json => SpendWriter.Report(json, scoped, _timeZone, result)).ConfigureAwait(false);
        }

        return null;
    });

    public Task CallsAsync(HttpContext context) => RunAsync(context, async (caller, ct) =>
    {
        var (query, error) = SpendQuery.ForCalls(context.Request, report.Today);
        if (query is null)
        {
            return ApiFailure.BadQuery(error!);
        }

        CallsPage.Cursor? after = null;
        if (query.After is not null)
        {
            if (!CallsPage.Cursor.TryParse(query.After, out var cursor))
            {
                return ApiFailure.BadQuery("'after' is not a cursor this endpoint gave out; pass the 'next' of the previous page.");
            }

            after = cursor;
        }

        if (Scoped(caller, query) is not { } scoped)
        {
            return NotYours;
        }

        var (start, end) = report.Range(scoped.From, scoped.To);
        var page = await calls.ReadAsync(start, end, scoped, after, ct).ConfigureAwait(false);
        await JsonResponse.WriteAsync(context, 200, json => SpendWriter.Calls(json, page)).ConfigureAwait(false);
        return null;
    });

    public Task MeAsync(HttpContext context) => RunAsync(context, async (caller, ct) =>
    {
        if (caller.Client is not { } client)
        {
            return ApiFailure.Rejected(400, "client_key_required", "/spend/me answers for a client key; with the admin key, use /spend?group_by=client.");
        }

        if (context.Request.Query.Count > 0)
        {
            return ApiFailure.BadQuery("/spend/me takes no query parameters.");
        }

        // This month by day: the month's and today's figures in one read.
        var today = report.Today;
        var query = new SpendQuery(new DateOnly(today.Year, today.Month, 1), today, SpendGrouping.Day, new SpendFilter(client, null, null, null),
            Csv: false, Limit: 0, After: null);
        var result = await report.RunAsync(query, ct).ConfigureAwait(false);
        var todayKey = today.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var todaySums = result.Rows.FirstOrDefault(r => r.Period == todayKey)?.Sums ?? new UsageSums();

        // Every budget that can count this client's calls (global, its own, and those by model, tag or user), as a rollup
        // would count it now: exact, where enforcement's running figure may count the last few seconds twice.
        var standings = (await budgets.ComputeAsync(ct).ConfigureAwait(false))
            .Where(s => s.Scope.Kind != "client" || string.Equals(s.Scope.Value, client, StringComparison.Ordinal))
            .ToList();
        await JsonResponse.WriteAsync(context, 200, json => SpendMeWriter.Write(json, client, _timeZone, todayKey, todaySums, result.Total, standings))
            .ConfigureAwait(false);
        return null;
    });

    /// <summary>The query as this caller may run it: a client is kept to its own spend (null when it asked for another's).</summary>
    private static SpendQuery? Scoped(SpendCaller caller, SpendQuery query)
    {
        if (caller.Client is not { } client)
        {
            return query;
        }

        if (query.Filter.Client is { } asked && !string.Equals(asked, client, StringComparison.Ordinal))
        {
            return null;
        }

        return query with { Filter = query.Filter with { Client = client } };
    }

    private async Task RunAsync(HttpContext context, Func<SpendCaller, CancellationToken, Task<ApiFailure?>> handle)
    {
        context.Response.Headers.CacheControl = "no-store";
        var caller = authenticator.Authenticate(context.Request.Headers.Authorization);
        ApiFailure? failure;
        if (caller is null)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            failure = Unauthorized;
        }
        else if (!limiter.TryAcquire(caller, out var retryAfter))
        {
            OpenAIError.SetRetryAfter(context.Response, retryAfter);
            failure = RateLimited;
        }
        else
        {
            try
            {
                failure = await handle(caller, context.RequestAborted).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is Azure.RequestFailedException or TaskCanceledException or HttpRequestException
                && !context.RequestAborted.IsCancellationRequested)
            {
                LogStorageFailed(logger, ex.GetType().Name, (ex as Azure.RequestFailedException)?.Status ?? 0);
                failure = StorageUnavailable;
            }
            catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted)
            {
                // A stored row this version cannot read, or a bug: still an answer in the OpenAI shape.
                LogUnexpected(logger, ex);
                failure = Internal;
            }
        }

        if (failure is not null)
        {
            await failure.WriteAsync(context).ConfigureAwait(false);
        }
    }

    private static readonly ApiFailure Unauthorized = ApiFailure.InvalidKey(
        "A valid key is required: send 'Authorization: Bearer <key>' with a client key (its own spend) or the admin key (Admin__KeySha256).");

    private static readonly ApiFailure NotYours = ApiFailure.PermissionDenied(
        "A client key reads only its own spend; leave out 'client' or use the admin key.");

    private static readonly ApiFailure StorageUnavailable = ApiFailure.StorageDidNotAnswer("Storage did not answer in time; try again.");

    private static readonly ApiFailure Internal = ApiFailure.ReportFailed("The spend figures could not be read; the error is in the proxy's log.");

    private static readonly ApiFailure RateLimited = ApiFailure.TooManyRequests(
        $"This key made more than {SpendRateLimiter.PerMinute} spend requests in a minute; wait for Retry-After.");

    [LoggerMessage(EventId = 8002, Level = LogLevel.Error, Message = "Spend request failed unexpectedly.")]
    private static partial void LogUnexpected(ILogger logger, Exception ex);

    [LoggerMessage(EventId = 8001, Level = LogLevel.Warning, Message = "Spend request failed: storage did not answer ({Error}, status {Status}).")]
    private static partial void LogStorageFailed(ILogger logger, string error, int status);
}
