using System.Globalization;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Keys;
using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Records;
using LlmFunctions.Core.Security;
using LlmFunctions.Core.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Forwards one <c>/v1/{path}</c> call and writes its record.
/// <code>
/// (1) authenticate ─► (2) validate path, method, body (RequestValidator) ─► (3) budgets ─► (4) rewrite body
///   ─► (5) send with retries ─► (6) relay and bill: SseRelay event by event, or JsonBodyRelay (cost headers up to 4 MiB)
///   ─► (7) complete the response ─► (8) write the record (durable before this method returns)
/// </code>
/// With <c>Storage__LocalDiskIsDurable=false</c> the record is written before the answer's last bytes instead
/// (<see cref="RecordCommit"/>), and a call meets 503 <c>storage_unavailable</c> while storage is down.
/// Every failure is a <see cref="ApiFailure"/> value, mapped to the record's status and outcome and to the client's
/// answer in one place (<see cref="FailAsync"/>): bad input 4xx, upstream unreachable 502, timeout 504, upstream
/// statuses passed through, a stream that breaks after it started aborted, a client that left recorded as
/// <c>client_cancelled</c> and never blamed on the upstream.
/// </summary>
internal sealed partial class ProxyHandler(
    GenAiTelemetry telemetry,
    UpstreamClient upstream,
    ClientAuthenticator authenticator,
    RequestValidator validator,
    CallBilling billing,
    JsonBodyRelay jsonRelay,
    SseRelay sseRelay,
    RecordWriter writer,
    StorageOutage storageOutage,
    InFlightCalls inFlight,
    BudgetAdmission admission,
    KeyAdmission keyAdmission,
    PriceTable prices,
    ClientRateLimiter rateLimiter,
    IOptions<StorageOptions> storageOptions,
    TimeProvider time,
    ILogger<ProxyHandler> logger)
{
    /// <summary>The header the Anthropic SDKs and Claude Code send their key in.</summary>
    private const string ApiKeyHeader = "x-api-key";

    private readonly bool _awaitRecordWrite = storageOptions.Value.AwaitRecordWrite;
    private readonly bool _localDiskIsDurable = storageOptions.Value.LocalDiskIsDurable;

    public async Task HandleAsync(HttpContext context, string? path)
    {
        inFlight.Enter();
        try
        {
            await HandleCoreAsync(context, path ?? "").ConfigureAwait(false);
        }
        finally
        {
            inFlight.Exit();
        }
    }

    private async Task HandleCoreAsync(HttpContext context, string path)
    {
        var started = time.GetTimestamp();

        // (1) Authenticate. Unauthenticated calls get no record: nobody to bill, and no way to flood storage.
        var dialect = Endpoints.DialectOf(path);
        var caller = dialect == ApiDialect.Anthropic
            ? await authenticator.AuthenticateAsync(context.Request.Headers.Authorization, context.Request.Headers[ApiKeyHeader], context.RequestAborted)
                .ConfigureAwait(false)
            : await authenticator.AuthenticateAsync(context.Request.Headers.Authorization, context.RequestAborted).ConfigureAwait(false);
        if (caller.Client is not { } client)
        {
            await caller.Refusal!.WriteAsync(context, dialect).ConfigureAwait(false);
            return;
        }

        var safePath = Endpoints.IsSafePath(path);
        var record = Open(context, client, path, safePath);
        var commit = new RecordCommit(() =>
        {
            BudgetAdmission.Settle(context, record);
            KeyAdmission.Settle(context, record);
            record.DurationMs = time.GetElapsedTime(started).TotalMilliseconds;

            // (8) Durable before the invocation completes (a Functions instance may freeze right after), unless the
            // operator of a long-lived host chose latency over crash-safety (Storage__AwaitRecordWrite = false); then
            // only queued, which waits only when Storage__MaxQueuedRecords are already waiting for storage.
            return writer.WriteAsync(record, untilDurable: _awaitRecordWrite);
        }, beforeAnswerEnds: !_localDiskIsDurable);

        await ForwardOrFailAsync(context, path, safePath, record, caller.Key, started, commit).ConfigureAwait(false);

        // (7) The client has its whole response before we touch storage (unless the record came first, above).
        await CompleteResponseAsync(context).ConfigureAwait(false);
        await commit.WriteAsync().ConfigureAwait(false);
        LogCall(logger, record.CallId, record.Client, record.BilledModel, record.StatusCode, record.Outcome, record.InputTokens, record.OutputTokens,
            record.CostUsd, record.DurationMs);
        telemetry.Report(record);
    }

    /// <summary>A record for the call, its id in <c>x-llm-call-id</c>.</summary>
    private CallRecord Open(HttpContext context, string client, string path, bool safePath)
    {
        var record = new CallRecord
        {
            CallId = RecordKeys.NewCallId(time),
            StartedAt = time.GetUtcNow(),
            Client = client,
            Method = MethodLabel(context.Request.Method),
            Endpoint = safePath ? "/v1/" + path : "/v1/(invalid)",
        };
        context.Response.Headers["x-llm-call-id"] = record.CallId;
        return record;
    }

    /// <summary>Forwards the call; any failure on the way, the client's leaving and our own defects included, becomes its answer.</summary>
    private async Task ForwardOrFailAsync(HttpContext context, string path, bool safePath, CallRecord record, VirtualKey? key, long started,
        RecordCommit commit)
    {
        try
        {
            try
            {
                if (rateLimiter.TryAcquire(record.Client, out var retryAfter))
                {
                    await ForwardAsync(context, path, safePath, record, key, started, commit).ConfigureAwait(false);
                }
                else
                {
                    OpenAIError.SetRetryAfter(context.Response, retryAfter);
                    await FailAsync(context, record, commit, ApiFailure.RateLimited(record.Client)).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (context.RequestAborted.IsCancellationRequested && ex is OperationCanceledException or IOException)
            {
                await FailAsync(context, record, commit, ApiFailure.ClientCancelled).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LogUnexpected(logger, ex, record.CallId);
                await FailAsync(context, record, commit, ApiFailure.Internal(record.CallId)).ConfigureAwait(false);
            }
        }
        finally
        {
            // Whatever happened, even if writing the error failed: a reservation left held would block the budget early.
            BudgetAdmission.Settle(context, record);
            KeyAdmission.Settle(context, record);
        }
    }

    private static async Task CompleteResponseAsync(HttpContext context)
    {
        if (!context.RequestAborted.IsCancellationRequested)
        {
            try
            {
                await context.Response.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
            {
                // The connection went away while finishing; the record says what the client got.
            }
        }
    }

    private async Task ForwardAsync(HttpContext context, string path, bool safePath, CallRecord record, VirtualKey? key, long started,
        RecordCommit commit)
    {
        // (2) Validate: path, method, size, JSON, model.
        using var call = await validator.ValidateAsync(context, path, safePath).ConfigureAwait(false);
        if (call.Failure is { } refused)
        {
            await FailAsync(context, record, commit, refused).ConfigureAwait(false);
            return;
        }

        if (!_localDiskIsDurable && storageOutage.IsDown)
        {
            // This call's record could not be stored, and the spool does not outlive this instance: refuse it before it costs.
            await FailAsync(context, record, commit, ApiFailure.StorageUnavailable).ConfigureAwait(false);
            return;
        }

        var facts = call.Facts;
        var requested = facts?.Model ?? "";
        record.Model = requested.Length > 0 ? prices.Canonical(requested) : "";
        record.RequestedModel = string.Equals(requested, record.Model, StringComparison.Ordinal) ? "" : requested;
        if (call.Attribution is { } who)
        {
            (record.EndUser, record.Tags, record.Metadata) = (who.EndUser, who.Tags, who.Metadata);
        }

        record.UsedModel = record.Model;
        if (record.Model.Length > 0 && Endpoints.IsMetered(path) && prices.Refuses(record.Model))
        {
            await FailAsync(context, record, commit, ApiFailure.Rejected(400, "model_not_priced",
                $"The model '{Text.Truncate(requested)}' has no price here, and this proxy refuses unpriced models (Pricing__RefuseUnpriced). "
                + "Check the name, or give it a price (Pricing__Models__<model>__Input and __Output, USD per 1M tokens).")).ConfigureAwait(false);
            return;
        }

        // A virtual key's own limits: its models, then its requests and tokens a minute.
        if (key is not null && keyAdmission.Admit(context, key, record, path, facts, call.Body) is { } limited)
        {
            await FailAsync(context, record, commit, limited).ConfigureAwait(false);
            return;
        }

        // (3) Budgets: block, downgrade or refuse a too expensive call before it costs anything.
        var (blocked, downgradeTo) = await admission.AdmitAsync(context, record, path, facts, call.Body).ConfigureAwait(false);
        if (blocked is not null)
        {
            await FailAsync(context, record, commit, blocked).ConfigureAwait(false);
            return;
        }

        await SendAndRelayAsync(context, path, record, call, requested, downgradeTo, started, commit).ConfigureAwait(false);
    }

    /// <summary>Steps (4) to (6): rewrite the body, send it with retries and fallback, relay the answer and bill it.</summary>
    private async Task SendAndRelayAsync(HttpContext context, string path, CallRecord record, RequestValidator.Result call, string requested,
        string? downgradeTo, long started, RecordCommit commit)
    {
        var facts = call.Facts;
        // (4) Ask for usage on streams (hidden again on the way back) and apply a downgrade.
        var injectUsage = facts is { Stream: true } && facts.IncludeUsage != true && path is Endpoints.ChatCompletions or "completions";
        ReadOnlyMemory<byte> upstreamBody = injectUsage || downgradeTo is not null
            ? RequestFacts.Rewrite(call.Body.WrittenSpan, injectUsage, facts!.HasStreamOptions, downgradeTo)
            : call.Body.WrittenMemory;

        // (5) Send.
        // Routed and sent as the client spelled it (or as the downgrade names it); billed and counted by canonical name.
        var routed = requested.Length > 0 ? downgradeTo ?? requested : null;
        var body = call.Body;
        var result = await upstream.SendAsync(context.Request, path, routed, upstreamBody,
            fallback => RequestFacts.Rewrite(body.WrittenSpan, injectUsage, facts!.HasStreamOptions, fallback), context.RequestAborted).ConfigureAwait(false);
        record.Retries = result.Retries;
        record.Upstream = result.Upstream;
        record.UpstreamsTried = result.UpstreamsTried;
        if (result.Model is { } sent && routed is not null && !string.Equals(sent, routed, StringComparison.Ordinal))
        {
            record.UsedModel = prices.Canonical(sent); // a fallback model answered: billed and counted as that one
        }

        if (result.Failure == UpstreamFailure.ClientCancelled && result.UpstreamsTried > 0 && Endpoints.IsMetered(path))
        {
            // The upstream had the call and may well charge for it: at least the prompt's estimate, never 0.
            billing.Bill(record, null, path, call.Body.WrittenSpan, text: null);
        }

        if (result.Failure != UpstreamFailure.None)
        {
            await FailAsync(context, record, commit, result.Failure switch
            {
                UpstreamFailure.ClientCancelled => ApiFailure.ClientCancelled,
                UpstreamFailure.Timeout => ApiFailure.UpstreamTimeout(upstream.Timeout),
                UpstreamFailure.Deadline => ApiFailure.UpstreamTimeout(upstream.Deadline ?? upstream.Timeout),
                UpstreamFailure.NoUpstream => ApiFailure.ModelNotServed(record.BilledModel, Endpoints.DialectOf(path)),
                _ => ApiFailure.UpstreamUnreachable(result.Upstream, upstream.MaxRetries),
            }).ConfigureAwait(false);
            return;
        }

        using var response = result.Response!;
        record.StatusCode = (int)response.StatusCode;
        record.Outcome = CallOutcome.FromStatus(record.StatusCode);
        if (response.Headers.TryGetValues("x-request-id", out var ids) || response.Headers.TryGetValues("request-id", out ids))
        {
            record.UpstreamRequestId = Text.Truncate(ids.FirstOrDefault() ?? "");
        }

        // (6) Relay: an SSE stream event by event, else the JSON body; either bills the call and returns how it failed.
        void Start(bool streaming) => StartResponse(context, response, record, started, streaming);
        var relayed = response.IsSuccessStatusCode && response.Content.Headers.ContentType?.MediaType == "text/event-stream"
            ? await sseRelay.RelayAsync(context, response, record, path, call.Body, injectUsage, Start, commit).ConfigureAwait(false)
            : await jsonRelay.RelayAsync(context, response, record, path, call.Body, Start, commit).ConfigureAwait(false);
        if (relayed is not null)
        {
            await FailAsync(context, record, commit, relayed).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The one place a failure becomes the record's status and outcome and the client's answer. A record already
    /// written (<see cref="RecordCommit"/>) keeps what the upstream answered: the upstream charged for it, though the
    /// client gets the failure.
    /// </summary>
    private static Task FailAsync(HttpContext context, CallRecord record, RecordCommit commit, ApiFailure failure)
    {
        if (!commit.Started)
        {
            record.StatusCode = failure.Status;
            record.Outcome = failure.Outcome;
        }

        // The record's endpoint is "/v1/" + the path (or "/v1/(invalid)", which is OpenAI's): errors go out in the call's API's shape.
        return failure.WriteAsync(context, Endpoints.DialectOf(record.Endpoint.AsSpan(4).ToString()));
    }

    private void StartResponse(HttpContext context, HttpResponseMessage response, CallRecord record, long started, bool streaming)
    {
        record.TimeToFirstByteMs = time.GetElapsedTime(started).TotalMilliseconds;
        var http = context.Response;
        http.StatusCode = record.StatusCode;
        HeaderPolicy.CopyResponse(response, http);
        if (upstream.MaxRetries > 0 && UpstreamClient.IsRetryableStatus(response.StatusCode))
        {
            // The proxy retried this status itself (Upstream__MaxRetries): an SDK retrying it again multiplies the wait.
            http.Headers["x-should-retry"] = "false";
        }

        if (streaming)
        {
            http.Headers.CacheControl = "no-cache";
            http.Headers["X-Accel-Buffering"] = "no";
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        }
    }

    /// <summary>The method as a record and a label: one of the seven a client may use, else <c>OTHER</c> (a client chooses it).</summary>
    private static string MethodLabel(string method) => HttpMethods.GetCanonicalizedValue(method) switch
    {
        var m when HttpMethods.IsGet(m) || HttpMethods.IsPost(m) || HttpMethods.IsPut(m) || HttpMethods.IsPatch(m) || HttpMethods.IsDelete(m)
            || HttpMethods.IsHead(m) || HttpMethods.IsOptions(m) => m,
        _ => "OTHER",
    };

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information,
        Message = "Call {CallId} client={Client} model={Model} status={Status} outcome={Outcome} tokens={InputTokens}+{OutputTokens} "
            + "cost=${CostUsd:0.######} in {DurationMs:0.0} ms.")]
    private static partial void LogCall(ILogger logger, string callId, string client, string model, int status, string outcome, long inputTokens,
        long outputTokens, double costUsd, double durationMs);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Error, Message = "Unexpected failure in call {CallId}.")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string callId);
}
