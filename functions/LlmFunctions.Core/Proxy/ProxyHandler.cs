using System.Globalization;
using System.Net.ServerSentEvents;
using System.Text;
using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Records;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Forwards one <c>/v1/{path}</c> call and writes its record.
/// <code>
/// (1) authenticate ─► (2) validate path, method, body ─► (3) budgets ─► (4) rewrite body (usage, downgrade)
///   ─► (5) send with retries ─► (6) relay: buffered JSON (cost headers) or SSE event by event
///   ─► (7) complete the response ─► (8) write the record (durable before this method returns)
/// </code>
/// Every failure maps to one status in one place: bad input 4xx, upstream unreachable 502, timeout 504,
/// upstream statuses passed through, a stream that breaks after it started is aborted, a client that left is
/// recorded as <c>client_cancelled</c> and never blamed on the upstream.
/// </summary>
internal sealed partial class ProxyHandler(
    UpstreamClient upstream,
    ClientAuthenticator authenticator,
    PriceTable prices,
    TokenEstimator estimator,
    RecordWriter writer,
    InFlightCalls inFlight,
    IBudgetGate budgets,
    ClientRateLimiter rateLimiter,
    IOptions<ProxyOptions> proxyOptions,
    IOptions<StorageOptions> storageOptions,
    TimeProvider time,
    ILogger<ProxyHandler> logger)
{
    /// <summary>Non-streaming bodies larger than this are relayed without cost headers instead of buffered.</summary>
    internal const int MaxBufferedResponseBytes = 32 * 1024 * 1024;

    private static readonly HashSet<string> SkippedResponseHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
        "Content-Length", "Set-Cookie", "Alt-Svc", "Server", "Strict-Transport-Security",
    };

    private readonly long _maxBody = proxyOptions.Value.MaxRequestBodyBytes;
    private readonly bool _awaitRecordWrite = storageOptions.Value.AwaitRecordWrite;

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
        var client = authenticator.Authenticate(context.Request.Headers.Authorization);
        if (client is null)
        {
            var message = authenticator.Count == 0
                ? "No client keys are configured on this proxy (Clients__<name>__Key), so every call is refused."
                : "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>'.";
            await OpenAIError.WriteAsync(context, StatusCodes.Status401Unauthorized, message, OpenAIError.InvalidRequest, "invalid_api_key").ConfigureAwait(false);
            return;
        }

        var safePath = Endpoints.IsSafePath(path);
        var record = new CallRecord
        {
            CallId = RecordKeys.NewCallId(time),
            StartedAt = time.GetUtcNow(),
            Client = client,
            Method = context.Request.Method,
            Endpoint = safePath ? "/v1/" + path : "/v1/(invalid)",
        };
        context.Response.Headers["x-llm-call-id"] = record.CallId;

        try
        {
            if (rateLimiter.TryAcquire(client, out var retryAfter))
            {
                await ForwardAsync(context, path, safePath, record, started).ConfigureAwait(false);
            }
            else
            {
                record.StatusCode = 429;
                record.Outcome = CallOutcome.RateLimited;
                SetRetryAfter(context, retryAfter);
                await OpenAIError.WriteAsync(context, 429, $"Client '{client}' is over its limit of requests per minute (Clients__{client}__RequestsPerMinute).", "rate_limit_error", "rate_limit_exceeded").ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (context.RequestAborted.IsCancellationRequested && ex is OperationCanceledException or IOException)
        {
            record.StatusCode = 499;
            record.Outcome = CallOutcome.ClientCancelled;
        }
        catch (Exception ex)
        {
            // A defect of ours: still answer in the OpenAI shape and still bill what we know.
            LogUnexpected(logger, ex, record.CallId);
            record.StatusCode = StatusCodes.Status500InternalServerError;
            record.Outcome = CallOutcome.UpstreamError;
            await OpenAIError.WriteAsync(context, 500, "The proxy failed to handle this call; it has been logged with id " + record.CallId + ".", "server_error", "proxy_error").ConfigureAwait(false);
        }

        record.DurationMs = time.GetElapsedTime(started).TotalMilliseconds;

        // (7) The client has its whole response before we touch storage.
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

        // (8) Durable before the invocation completes (a Functions instance may freeze right after), unless the
        // operator of a long-lived host chose latency over crash-safety (Storage__AwaitRecordWrite = false); then
        // only queued, which waits only when Storage__MaxQueuedRecords are already waiting for storage.
        await writer.WriteAsync(record, untilDurable: _awaitRecordWrite).ConfigureAwait(false);
        LogCall(logger, record.CallId, record.Client, record.UsedModel, record.StatusCode, record.Outcome, record.DurationMs);
    }

    private async Task ForwardAsync(HttpContext context, string path, bool safePath, CallRecord record, long started)
    {
        var request = context.Request;

        // (2) Validate: path, method, size, JSON, model.
        var target = safePath ? upstream.TargetFor(path, request.QueryString) : null;
        if (target is null)
        {
            await RejectAsync(context, record, 404, $"Unknown path '/v1/{Truncate(path)}'.", "not_found").ConfigureAwait(false);
            return;
        }

        var isChat = path == Endpoints.ChatCompletions;
        if (isChat && !HttpMethods.IsPost(request.Method))
        {
            context.Response.Headers.Allow = "POST";
            await RejectAsync(context, record, 405, $"Method {Truncate(request.Method)} is not allowed on /v1/chat/completions; use POST.", "method_not_allowed").ConfigureAwait(false);
            return;
        }

        if (request.ContentLength > _maxBody)
        {
            await RejectAsync(context, record, 413, $"The request body is {request.ContentLength} bytes; the limit is {_maxBody}.", "request_too_large").ConfigureAwait(false);
            return;
        }

        using var body = new PooledBufferWriter((int)Math.Min(request.ContentLength ?? 4096, _maxBody) + 1);
        bool withinLimit;
        try
        {
            withinLimit = await ReadBodyAsync(request, body, context.RequestAborted).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            withinLimit = false;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // The client went away (or broke its framing) before its body arrived: its fault, not a 5xx of ours.
            SetCancelled(record);
            return;
        }

        if (!withinLimit)
        {
            await RejectAsync(context, record, 413, $"The request body is larger than the limit of {_maxBody} bytes.", "request_too_large").ConfigureAwait(false);
            return;
        }

        var isJson = request.ContentType?.Contains("json", StringComparison.OrdinalIgnoreCase) == true;
        RequestFacts? facts = null;
        if (isJson && body.WrittenCount > 0 && !RequestFacts.TryParse(body.WrittenSpan, out facts))
        {
            await RejectAsync(context, record, 400, facts.Problem, "invalid_json").ConfigureAwait(false);
            return;
        }

        if (isChat)
        {
            if (!isJson)
            {
                await RejectAsync(context, record, 415, "Content-Type must be application/json.", "unsupported_media_type").ConfigureAwait(false);
                return;
            }

            if (facts is null)
            {
                await RejectAsync(context, record, 400, "The request body is empty; send a JSON object with 'model' and 'messages'.", "invalid_json").ConfigureAwait(false);
                return;
            }

            if (string.IsNullOrWhiteSpace(facts.Model))
            {
                await RejectAsync(context, record, 400, "The request must name a 'model'.", "missing_model").ConfigureAwait(false);
                return;
            }
        }

        record.Model = facts?.Model ?? "";
        record.UsedModel = record.Model;

        // (3) Budgets: block, downgrade or refuse a too expensive call before it costs anything.
        string? downgradeTo = null;
        if (facts?.Model is { Length: > 0 } && Endpoints.IsMetered(path))
        {
            var bodySnapshot = body;
            var decision = budgets.Check(record.Client, facts.Model,
                () => estimator.Count(facts.Model, RequestFacts.PromptText(bodySnapshot.WrittenSpan)), facts.MaxOutputTokens);
            switch (decision.Verdict)
            {
                case BudgetVerdict.Block:
                    if (decision.RetryAfter is { } retryAfter)
                    {
                        SetRetryAfter(context, retryAfter);
                    }

                    record.StatusCode = 429;
                    record.Outcome = CallOutcome.RateLimited;
                    await OpenAIError.WriteAsync(context, 429, decision.Message!, "budget_exceeded", "budget_exceeded").ConfigureAwait(false);
                    return;
                case BudgetVerdict.TooExpensive:
                    await RejectAsync(context, record, 400, decision.Message!, "max_cost_per_call_exceeded").ConfigureAwait(false);
                    return;
                case BudgetVerdict.Downgrade:
                    downgradeTo = decision.DowngradeTo;
                    record.UsedModel = downgradeTo!;
                    context.Response.Headers["x-llm-downgraded-from"] = facts.Model;
                    break;
            }
        }

        // (4) Ask for usage on streams (hidden again on the way back) and apply a downgrade.
        var injectUsage = facts is { Stream: true } && facts.IncludeUsage != true && path is Endpoints.ChatCompletions or "completions";
        ReadOnlyMemory<byte> upstreamBody = injectUsage || downgradeTo is not null
            ? RequestFacts.Rewrite(body.WrittenSpan, injectUsage, facts!.HasStreamOptions, downgradeTo)
            : body.WrittenMemory;

        // (5) Send.
        var result = await upstream.SendAsync(request, target, upstreamBody, context.RequestAborted).ConfigureAwait(false);
        record.Retries = result.Retries;
        switch (result.Failure)
        {
            case UpstreamFailure.ClientCancelled:
                record.StatusCode = 499;
                record.Outcome = CallOutcome.ClientCancelled;
                return;
            case UpstreamFailure.Timeout:
                record.StatusCode = 504;
                record.Outcome = CallOutcome.Timeout;
                await OpenAIError.WriteAsync(context, 504, $"The upstream did not answer within {upstream.Timeout.TotalSeconds:0} s.", "upstream_error", "upstream_timeout").ConfigureAwait(false);
                return;
            case UpstreamFailure.Unreachable:
                record.StatusCode = 502;
                record.Outcome = CallOutcome.UpstreamError;
                await OpenAIError.WriteAsync(context, 502, "The upstream could not be reached.", "upstream_error", "upstream_unreachable").ConfigureAwait(false);
                return;
        }

        using var response = result.Response!;
        record.StatusCode = (int)response.StatusCode;
        record.Outcome = CallOutcome.FromStatus(record.StatusCode);
        if (response.Headers.TryGetValues("x-request-id", out var ids))
        {
            record.UpstreamRequestId = Truncate(ids.FirstOrDefault() ?? "");
        }

        // (6) Relay.
        var isStream = response.IsSuccessStatusCode && response.Content.Headers.ContentType?.MediaType == "text/event-stream";
        if (isStream)
        {
            await RelayStreamAsync(context, response, record, path, body, injectUsage, started).ConfigureAwait(false);
        }
        else
        {
            await RelayBufferedAsync(context, response, record, path, body, started).ConfigureAwait(false);
        }
    }

    private async Task RelayBufferedAsync(HttpContext context, HttpResponseMessage response, CallRecord record, string path, PooledBufferWriter requestBody, long started)
    {
        using var buffer = new PooledBufferWriter((int)Math.Clamp(response.Content.Headers.ContentLength ?? 16 * 1024, 1024, MaxBufferedResponseBytes));
        await using var upstreamStream = await response.Content.ReadAsStreamAsync(context.RequestAborted).ConfigureAwait(false);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        var complete = false;
        try
        {
            while (buffer.WrittenCount < MaxBufferedResponseBytes)
            {
                idle.CancelAfter(upstream.Timeout);
                var read = await upstreamStream.ReadAsync(buffer.GetMemory(16 * 1024), idle.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    complete = true;
                    break;
                }

                buffer.Advance(read);
            }
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            record.StatusCode = 504;
            record.Outcome = CallOutcome.Timeout;
            await OpenAIError.WriteAsync(context, 504, "The upstream stopped sending the response body.", "upstream_error", "upstream_timeout").ConfigureAwait(false);
            return;
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException && !context.RequestAborted.IsCancellationRequested)
        {
            record.StatusCode = 502;
            record.Outcome = CallOutcome.UpstreamError;
            await OpenAIError.WriteAsync(context, 502, "The upstream connection broke while sending the response.", "upstream_error", "upstream_broken_response").ConfigureAwait(false);
            return;
        }

        record.TimeToFirstByteMs = time.GetElapsedTime(started).TotalMilliseconds;
        var http = context.Response;
        http.StatusCode = record.StatusCode;
        CopyResponseHeaders(response, http);

        if (response.IsSuccessStatusCode && complete && Endpoints.IsMetered(path))
        {
            ResponseFacts.TryRead(buffer.WrittenSpan, out var facts);
            record.ResponseModel = Truncate(facts.Model ?? "");
            if (facts.Usage is { } usage)
            {
                Bill(record, usage, Records.UsageSource.Reported);
            }
            else
            {
                var text = new StringBuilder();
                ResponseFacts.TryRead(buffer.WrittenSpan, out _, text);
                Bill(record, Estimate(record, path, requestBody, text), Records.UsageSource.Estimated);
            }

            http.Headers["x-llm-cost-usd"] = PriceTable.Format(CostCalculator.ToUsd(record.CostNanoUsd));
            http.Headers["x-llm-input-tokens"] = record.InputTokens.ToString(CultureInfo.InvariantCulture);
            http.Headers["x-llm-output-tokens"] = record.OutputTokens.ToString(CultureInfo.InvariantCulture);
            http.Headers["x-llm-usage-source"] = record.UsageSource;
            if (!record.Priced)
            {
                http.Headers["x-llm-priced"] = "false";
            }
        }

        if (complete)
        {
            http.ContentLength = buffer.WrittenCount;
        }

        await http.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
        if (!complete)
        {
            // Too large to buffer: relay the rest as it comes, unmetered (documented limit).
            await upstreamStream.CopyToAsync(http.Body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private async Task RelayStreamAsync(HttpContext context, HttpResponseMessage response, CallRecord record, string path, PooledBufferWriter requestBody, bool hideUsage, long started)
    {
        record.Streamed = true;
        var http = context.Response;
        var clientAborted = context.RequestAborted;
        await using var upstreamStream = await response.Content.ReadAsStreamAsync(clientAborted).ConfigureAwait(false);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        var parser = SseParser.Create(upstreamStream, static (_, data) => SseChunk.Rent(data));
        var text = new StringBuilder();
        var sawDone = false;
        Usage? usage = null;
        var needsDone = path is Endpoints.ChatCompletions or "completions";

        await using var events = parser.EnumerateAsync(idle.Token).GetAsyncEnumerator(idle.Token);
        while (true)
        {
            // Upstream side: a fault here is the upstream's (or the idle timeout's).
            try
            {
                idle.CancelAfter(upstream.Timeout);
                if (!await events.MoveNextAsync().ConfigureAwait(false))
                {
                    break;
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
            {
                if (clientAborted.IsCancellationRequested)
                {
                    SetCancelled(record);
                }
                else
                {
                    var timedOut = ex is OperationCanceledException;
                    record.StatusCode = timedOut ? 504 : 502;
                    record.Outcome = timedOut ? CallOutcome.Timeout : CallOutcome.UpstreamError;
                    LogStreamBroken(logger, record.CallId, record.Outcome);
                    await AbortOrFailAsync(context, record).ConfigureAwait(false);
                }

                Finish(record, usage, path, requestBody, text);
                return;
            }

            var item = events.Current;
            var chunk = item.Data;
            try
            {
                if (!http.HasStarted)
                {
                    record.TimeToFirstByteMs = time.GetElapsedTime(started).TotalMilliseconds;
                    http.StatusCode = record.StatusCode;
                    CopyResponseHeaders(response, http);
                    http.Headers.CacheControl = "no-cache";
                    http.Headers["X-Accel-Buffering"] = "no";
                    context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
                }

                var length = chunk.Length;
                if (SseWriter.IsDone(chunk.Span))
                {
                    sawDone = true;
                    SseWriter.WriteDone(http.BodyWriter);
                }
                else
                {
                    if (ResponseFacts.TryRead(chunk.Span, out var facts, text, readIdentity: record.ResponseModel.Length == 0))
                    {
                        usage = facts.Usage ?? usage;
                        if (facts.Model is { } model && record.ResponseModel.Length == 0)
                        {
                            record.ResponseModel = Truncate(model);
                        }

                        if (hideUsage)
                        {
                            if (facts.Usage is not null && facts.ChoicesEmpty)
                            {
                                // The usage-only chunk we asked for: the client did not.
                                continue;
                            }

                            length = SseWriter.StripNullUsage(chunk.Writable);
                        }
                    }

                    SseWriter.Write(http.BodyWriter, item.EventType, item.EventId, chunk.Span[..length]);
                }

                var flush = await http.BodyWriter.FlushAsync(clientAborted).ConfigureAwait(false);
                if (flush.IsCanceled || flush.IsCompleted)
                {
                    SetCancelled(record);
                    Finish(record, usage, path, requestBody, text);
                    return;
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                // Client side: it left. Disposing the upstream response (on return) cancels the upstream call.
                SetCancelled(record);
                Finish(record, usage, path, requestBody, text);
                return;
            }
            finally
            {
                chunk.Return();
            }
        }

        if (needsDone && !sawDone)
        {
            // The upstream closed without its end marker: a truncated stream, never passed off as complete.
            record.StatusCode = 502;
            record.Outcome = CallOutcome.UpstreamError;
            LogStreamBroken(logger, record.CallId, "closed without [DONE]");
            await AbortOrFailAsync(context, record).ConfigureAwait(false);
        }
        else if (!http.HasStarted)
        {
            record.TimeToFirstByteMs = time.GetElapsedTime(started).TotalMilliseconds;
            http.StatusCode = record.StatusCode;
            CopyResponseHeaders(response, http);
        }

        Finish(record, usage, path, requestBody, text);
    }

    private static async Task AbortOrFailAsync(HttpContext context, CallRecord record)
    {
        if (context.Response.HasStarted)
        {
            context.Abort();
        }
        else
        {
            await OpenAIError.WriteAsync(context, record.StatusCode,
                record.Outcome == CallOutcome.Timeout ? "The upstream stream went idle past the timeout." : "The upstream stream broke before it finished.",
                "upstream_error", record.Outcome == CallOutcome.Timeout ? "upstream_timeout" : "upstream_broken_stream").ConfigureAwait(false);
        }
    }

    private static void SetCancelled(CallRecord record)
    {
        record.StatusCode = 499;
        record.Outcome = CallOutcome.ClientCancelled;
    }

    /// <summary>Bills a stream: reported usage when it came, else an estimate of what was seen.</summary>
    private void Finish(CallRecord record, Usage? usage, string path, PooledBufferWriter requestBody, StringBuilder text)
    {
        if (usage is { } reported)
        {
            Bill(record, reported, Records.UsageSource.Reported);
        }
        else if (Endpoints.IsMetered(path))
        {
            Bill(record, Estimate(record, path, requestBody, text), Records.UsageSource.Estimated);
        }
    }

    private Usage Estimate(CallRecord record, string path, PooledBufferWriter requestBody, StringBuilder text)
    {
        var model = record.UsedModel;
        var input = estimator.Count(model, RequestFacts.PromptText(requestBody.WrittenSpan));
        var output = Endpoints.IsGenerative(path) ? estimator.Count(model, text.ToString()) : 0;
        return new Usage(input, 0, output, 0);
    }

    private void Bill(CallRecord record, Usage usage, string source)
    {
        record.InputTokens = usage.InputTokens;
        record.CachedInputTokens = usage.CachedInputTokens;
        record.OutputTokens = usage.OutputTokens;
        record.ReasoningTokens = usage.ReasoningTokens;
        record.UsageSource = source;
        if (prices.TryGetPrice(record.UsedModel, out var price) || prices.TryGetPrice(record.ResponseModel, out price))
        {
            record.Priced = true;
            record.CostNanoUsd = CostCalculator.CostNanoUsd(price, usage.InputTokens, usage.CachedInputTokens, usage.OutputTokens);
        }
        else
        {
            // Never a silent guess: unpriced, cost 0, counted as such by the metrics.
            record.Priced = false;
            record.CostNanoUsd = 0;
        }
    }

    private static async Task RejectAsync(HttpContext context, CallRecord record, int status, string message, string code)
    {
        record.StatusCode = status;
        record.Outcome = CallOutcome.ClientError;
        await OpenAIError.WriteAsync(context, status, message, OpenAIError.InvalidRequest, code).ConfigureAwait(false);
    }

    /// <summary>Reads the body into <paramref name="body"/>; false as soon as it passes the limit (not read further).</summary>
    private async Task<bool> ReadBodyAsync(HttpRequest request, PooledBufferWriter body, CancellationToken cancellationToken)
    {
        var stream = request.Body;
        while (true)
        {
            var read = await stream.ReadAsync(body.GetMemory(8192), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return true;
            }

            body.Advance(read);
            if (body.WrittenCount > _maxBody)
            {
                return false;
            }
        }
    }

    private static void CopyResponseHeaders(HttpResponseMessage from, HttpResponse to)
    {
        foreach (var header in from.Headers)
        {
            if (!SkippedResponseHeaders.Contains(header.Key))
            {
                to.Headers[header.Key] = header.Value.ToArray();
            }
        }

        foreach (var header in from.Content.Headers)
        {
            if (!SkippedResponseHeaders.Contains(header.Key))
            {
                to.Headers[header.Key] = header.Value.ToArray();
            }
        }
    }

    /// <summary><c>Retry-After</c> in whole seconds, rounded up and at least 1.</summary>
    private static void SetRetryAfter(HttpContext context, TimeSpan wait) =>
        context.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    private static string Truncate(string value) => value.Length <= 128 ? value : value[..128];

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Call {CallId} client={Client} model={Model} status={Status} outcome={Outcome} in {DurationMs:0.0} ms.")]
    private static partial void LogCall(ILogger logger, string callId, string client, string model, int status, string outcome, double durationMs);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Stream of call {CallId} broke: {Reason}; the client's stream was aborted.")]
    private static partial void LogStreamBroken(ILogger logger, string callId, string reason);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Error, Message = "Unexpected failure in call {CallId}.")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string callId);
}
