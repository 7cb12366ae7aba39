using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Core.Http;

/// <summary>
/// Every way a request can fail, as one value, classified where it happens: the status and the <see cref="CallOutcome"/>
/// a proxied call's record gets, and the OpenAI-shaped error the client gets (<see cref="WriteAsync"/>). The static
/// members below are the one table of failures, for the proxy, <c>/spend</c> and <c>/metrics</c> alike.
/// </summary>
/// <param name="Status">HTTP status for the record and the answer; 499 (the client left) gets no answer.</param>
/// <param name="Outcome">The record's <see cref="CallOutcome"/>.</param>
/// <param name="ErrorType">The error's <c>type</c>.</param>
/// <param name="Code">The error's <c>code</c>.</param>
/// <param name="Message">The error's <c>message</c>: says what was wrong and what to do.</param>
internal sealed record ApiFailure(int Status, string Outcome, string ErrorType, string Code, string Message)
{
    private const string ServerError = "server_error";

    /// <summary>False when retrying cannot succeed soon although the status says otherwise (a budget refused until its reset).</summary>
    public bool Retryable { get; init; } = true;

    /// <summary>When a refusing budget's period ends: the body's <c>reset_at</c> and the <c>x-llm-budget-reset</c> header.</summary>
    public DateTimeOffset? ResetsAt { get; init; }

    /// <summary>The client left (or broke its framing) before it had its answer: its doing, never the upstream's.</summary>
    public static ApiFailure ClientCancelled { get; } = new(StatusCodes.Status499ClientClosedRequest, CallOutcome.ClientCancelled, "", "", "");

    /// <summary>
    /// The upstream did not answer: named (by its settings name, never its key) so that an operator knows which. After
    /// <paramref name="retries"/> retries of the proxy's own, the client is told not to retry (the OpenAI SDKs would
    /// retry each 502 twice more, tripling the wait for the same answer).
    /// </summary>
    public static ApiFailure UpstreamUnreachable(string upstream, int retries) => new(502, CallOutcome.UpstreamError, "upstream_error",
        "upstream_unreachable",
        (upstream.Length == 0 || upstream == "default"
            ? "The upstream (Upstream__BaseUrl) could not be reached"
            : $"The upstream '{Text.Truncate(upstream)}' (Upstreams__{Text.Truncate(upstream)}__BaseUrl) could not be reached")
        + (retries > 0 ? $", after {retries} retries (Upstream__MaxRetries)." : "."))
    { Retryable = retries == 0 };

    public static ApiFailure UpstreamBodyStalled { get; } =
        new(504, CallOutcome.Timeout, "upstream_error", "upstream_timeout", "The upstream stopped sending the response body.");

    public static ApiFailure UpstreamBodyBroken { get; } =
        new(502, CallOutcome.UpstreamError, "upstream_error", "upstream_broken_response", "The upstream connection broke while sending the response.");

    public static ApiFailure UpstreamStreamIdle { get; } =
        new(504, CallOutcome.Timeout, "upstream_error", "upstream_timeout", "The upstream stream went idle past the timeout.");

    /// <summary>A stream that broke, or ended without its end marker: never passed off as complete.</summary>
    public static ApiFailure UpstreamStreamBroken { get; } =
        new(502, CallOutcome.UpstreamError, "upstream_error", "upstream_broken_stream", "The upstream stream broke before it finished.");

    public static ApiFailure UpstreamTimeout(TimeSpan timeout) =>
        new(504, CallOutcome.Timeout, "upstream_error", "upstream_timeout", $"The upstream did not answer within {timeout.TotalSeconds:0} s.");

    /// <summary>
    /// No upstream serves the model (OpenAI's answer for a model it does not have); on the Messages API, none of a kind
    /// that speaks it (an OpenAI upstream never gets <c>/v1/messages</c>, an Anthropic one never <c>/v1/chat/completions</c>).
    /// </summary>
    public static ApiFailure ModelNotServed(string model, ApiDialect dialect = ApiDialect.OpenAI) => new(404, CallOutcome.ClientError,
        OpenAIError.InvalidRequest, "model_not_found", dialect == ApiDialect.Anthropic
            ? $"The model '{Text.Truncate(model)}' is not served here on /v1/messages: no Upstreams__<name> of Kind anthropic or azure-anthropic "
                + "lists it in its Models (OpenAI-kind upstreams do not speak the Messages API)."
            : $"The model '{Text.Truncate(model)}' is not served here: no Upstreams__<name>__Models entry of an OpenAI kind matches it and "
                + "there is no default upstream (Anthropic-kind upstreams serve /v1/messages only).");

    /// <summary>Bad input: a 4xx with <c>invalid_request_error</c>.</summary>
    public static ApiFailure Rejected(int status, string code, string message) =>
        new(status, CallOutcome.ClientError, OpenAIError.InvalidRequest, code, message);

    public static ApiFailure RateLimited(string client) => new(429, CallOutcome.RateLimited, "rate_limit_error", "rate_limit_exceeded",
        $"Client '{client}' is over its limit of requests per minute (Clients__{client}__RequestsPerMinute).");

    /// <summary>
    /// A budget refuses the call until <paramref name="resetsAt"/>. No <c>Retry-After</c>: SDKs honour it without a cap, and
    /// hours of silent waiting is worse than an error now; <c>x-should-retry: false</c> makes them fail at once.
    /// </summary>
    public static ApiFailure BudgetExceeded(string message, DateTimeOffset? resetsAt) =>
        new(429, CallOutcome.BudgetBlocked, "budget_exceeded", "budget_exceeded", message) { Retryable = false, ResetsAt = resetsAt };

    public static ApiFailure BudgetUnavailable(string message) => new(503, CallOutcome.ProxyError, ServerError, "budget_unavailable", message);

    /// <summary>
    /// Storage is down and this host answers a call only once its record is in the table (<c>Storage__LocalDiskIsDurable=false</c>):
    /// refused before the upstream, or, for a call already answered upstream, instead of its answer's last bytes. Retryable
    /// (the SDKs retry a 503 after a back-off): an outage counts as over once storage takes a write again.
    /// </summary>
    public static ApiFailure StorageUnavailable { get; } = new(503, CallOutcome.StorageUnavailable, ServerError, "storage_unavailable",
        "Storage is unavailable, and this proxy answers a call only once its record is stored (Storage__LocalDiskIsDurable=false). Retry shortly.");

    /// <summary>A defect of ours: still answered in the OpenAI shape, and still billed for what is known.</summary>
    public static ApiFailure Internal(string callId) => new(500, CallOutcome.ProxyError, ServerError, "proxy_error",
        "The proxy failed to handle this call; it has been logged with id " + callId + ".");

    /// <summary>No key, or not one this endpoint knows.</summary>
    public static ApiFailure InvalidKey(string message) => new(401, CallOutcome.ClientError, OpenAIError.InvalidRequest, "invalid_api_key", message);

    /// <summary>A key that exists but no longer works: <paramref name="code"/> is <c>key_expired</c>, <c>key_revoked</c> or
    /// <c>key_rotated</c>, and the message names the key's id, never its secret.</summary>
    public static ApiFailure KeyRefused(string code, string message) => new(401, CallOutcome.ClientError, OpenAIError.InvalidRequest, code, message)
    { Retryable = false };

    /// <summary>The virtual keys have not been read from storage yet on this instance (it just started and storage is slow).</summary>
    public static ApiFailure KeysUnavailable { get; } = new(503, CallOutcome.ProxyError, ServerError, "keys_unavailable",
        "This instance could not read its client keys from storage yet. Retry shortly.");

    /// <summary>The key may not call this model (its <c>models</c>).</summary>
    public static ApiFailure ModelNotAllowed(string message) => new(403, CallOutcome.ClientError, OpenAIError.InvalidRequest, "model_not_allowed", message)
    { Retryable = false };

    /// <summary>A scrape without the <c>Metrics__BearerToken</c> (or from outside loopback in Development).</summary>
    public static ApiFailure ScrapeUnauthorized(string message) => new(401, CallOutcome.ClientError, OpenAIError.InvalidRequest, "unauthorized", message);

    /// <summary>A key asking for what is not its own.</summary>
    public static ApiFailure PermissionDenied(string message) => new(403, CallOutcome.ClientError, OpenAIError.InvalidRequest, "permission_denied", message);

    /// <summary>A query a report endpoint cannot answer as asked.</summary>
    public static ApiFailure BadQuery(string message) => new(400, CallOutcome.ClientError, OpenAIError.InvalidRequest, "invalid_query", message);

    /// <summary>A key over its own request rate on an endpoint of ours (the caller sets <c>Retry-After</c>).</summary>
    public static ApiFailure TooManyRequests(string message) => new(429, CallOutcome.RateLimited, "rate_limit_error", "rate_limit_exceeded", message);

    /// <summary>Storage did not answer a read in time: <paramref name="message"/> says what is unavailable.</summary>
    public static ApiFailure StorageDidNotAnswer(string message) => new(503, CallOutcome.ProxyError, ServerError, "storage_unavailable", message);

    /// <summary>A report that could not be read (a stored row this version cannot read, or a defect): in the log.</summary>
    public static ApiFailure ReportFailed(string message) => new(500, CallOutcome.ProxyError, ServerError, "internal_error", message);

    /// <summary>
    /// Writes the failure: nothing for a client that left (499), else the OpenAI-shaped error with <c>x-should-retry: false</c>
    /// when a retry cannot succeed and the budget's reset when there is one; an abort once a response has started (so a
    /// partial answer is never taken for a whole one).
    /// </summary>
    public Task WriteAsync(HttpContext context) => WriteAsync(context, ApiDialect.OpenAI);

    /// <summary>As <see cref="WriteAsync(HttpContext)"/>, in the shape of the call's API: Anthropic's on the Messages paths.</summary>
    public Task WriteAsync(HttpContext context, ApiDialect dialect)
    {
        if (Status == StatusCodes.Status499ClientClosedRequest)
        {
            return Task.CompletedTask;
        }

        if (!Retryable && !context.Response.HasStarted)
        {
            // The OpenAI SDKs honour this over their own rules (they retry every 429): a retry cannot succeed before the reset.
            context.Response.Headers["x-should-retry"] = "false";
        }

        if (ResetsAt is { } resetsAt && !context.Response.HasStarted)
        {
            context.Response.Headers["x-llm-budget-reset"] = resetsAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        }

        return dialect == ApiDialect.Anthropic
            ? AnthropicError.WriteAsync(context, Status, Message, ResetsAt)
            : OpenAIError.WriteAsync(context, Status, Message, ErrorType, Code, ResetsAt);
    }
}
