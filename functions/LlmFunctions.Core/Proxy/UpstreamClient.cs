using System.Net;
using LlmFunctions.Core.Pricing;
using Azure;
using Azure.Identity;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Sends a request to the upstreams that serve its model (<see cref="UpstreamRouter"/>): on a connect failure, a
/// timeout, 429 or 5xx it moves at once to the next one; when every one failed that way, the retry policy users asked
/// for applies to the whole round: on 429, 502, 503, 504 or a connect failure, wait 2 s, 4 s, 8 s (doubling from
/// <c>Upstream__RetryBaseDelayMs</c>) plus up to 25 % jitter, or what <c>Retry-After</c> says when that is longer, at
/// most <c>Upstream__MaxRetries</c> times. All of this happens before any byte reached the client, and stops as soon
/// as the client leaves.
/// </summary>
internal sealed partial class UpstreamClient
{
    public const string HttpClientName = "upstream";

    private const string AnthropicVersionHeader = "anthropic-version";

    /// <summary>The only <c>anthropic-version</c> in use; sent when the client sent none.</summary>
    internal const string DefaultAnthropicVersion = "2023-06-01";

    /// <summary>A stand-in base for checking that a client's path stays under whichever upstream's base.</summary>
    private static readonly Uri ReferenceBase = new("http://upstream.invalid/v1/");

    private readonly IHttpClientFactory _httpClientFactory;
    private readonly HeaderPolicy _headers;
    private readonly UpstreamRouter _router;
    private readonly ResiliencePipeline<RoundResult> _retry;
    private readonly TimeSpan? _deadline;
    private readonly FallbackModels _fallbackModels;
    private readonly ILogger<UpstreamClient> _logger;

    public UpstreamClient(IHttpClientFactory httpClientFactory, UpstreamRouter router, HeaderPolicy headers, IOptions<UpstreamOptions> options,
        FallbackModels fallbackModels, TimeProvider time, ILogger<UpstreamClient> logger)
    {
        _headers = headers;
        _httpClientFactory = httpClientFactory;
        _router = router;
        _logger = logger;
        var o = options.Value;
        Timeout = TimeSpan.FromSeconds(o.TimeoutSeconds);
        MaxRetries = o.MaxRetries;
        _deadline = o.DeadlineSeconds > 0 ? TimeSpan.FromSeconds(o.DeadlineSeconds) : null;
        _fallbackModels = fallbackModels;
        var baseDelay = TimeSpan.FromMilliseconds(o.RetryBaseDelayMs);
        var maxRetryAfter = TimeSpan.FromSeconds(Math.Max(o.TimeoutSeconds, 60));

        var builder = new ResiliencePipelineBuilder<RoundResult> { TimeProvider = time };
        if (o.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<RoundResult>
            {
                MaxRetryAttempts = o.MaxRetries,
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome switch
                {
                    { Result.Response: { } r } => IsRetryableStatus(r.StatusCode),
                    { Result.Error: HttpRequestException e } => IsConnectFailure(e),
                    _ => false,
                }),
                DelayGenerator = args =>
                {
                    var exponential = baseDelay * Math.Pow(2, args.AttemptNumber);
                    var jitter = exponential * (Random.Shared.NextDouble() * 0.25);
                    var delay = exponential + jitter;
                    if (args.Outcome.Result.Response?.Headers.RetryAfter is { } retryAfter)
                    {
                        var wanted = retryAfter.Delta ?? (retryAfter.Date - time.GetUtcNow()) ?? TimeSpan.Zero;
                        if (wanted > delay)
                        {
                            delay = wanted < maxRetryAfter ? wanted : maxRetryAfter;
                        }
                    }

                    return ValueTask.FromResult<TimeSpan?>(delay);
                },
                OnRetry = args =>
                {
                    var status = args.Outcome.Result.Response is { } r
                        ? ((int)r.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture)
                        : "connect failure";
                    args.Outcome.Result.Response?.Dispose();
                    LogRetry(_logger, args.AttemptNumber + 1, status, args.RetryDelay.TotalMilliseconds);
                    return ValueTask.CompletedTask;
                },
            });
        }

        _retry = builder.Build();
    }

    public TimeSpan Timeout { get; }

    /// <summary><c>Upstream__MaxRetries</c>: how often a call is retried here before its failure is answered.</summary>
    public int MaxRetries { get; }

    /// <summary><c>Upstream__DeadlineSeconds</c>, when set.</summary>
    public TimeSpan? Deadline => _deadline;

    /// <summary>Whether a validated <c>/v1</c>-relative path and query stay under an upstream's base.</summary>
    public static bool IsForwardable(string relativePath, QueryString query) => Upstream.TargetUnder(ReferenceBase, relativePath, query) is not null;

    /// <summary>
    /// Sends with fallback and retries and returns once response headers arrived. <paramref name="model"/> routes the
    /// call (null: a call without a model); when every upstream of it failed, the call moves on to its fallback model
    /// (<c>Upstream__FallbackModels</c>) with the body <paramref name="bodyFor"/> gives for that model.
    /// <paramref name="clientAborted"/> is the client's token; the header timeout applies to each attempt, and
    /// <c>Upstream__DeadlineSeconds</c>, when set, to all of them.
    /// </summary>
    public async Task<UpstreamResult> SendAsync(HttpRequest incoming, string relativePath, string? model, ReadOnlyMemory<byte> body,
        Func<string, ReadOnlyMemory<byte>> bodyFor, CancellationToken clientAborted)
    {
        var route = RouteFor(model, body, bodyFor, Http.Endpoints.DialectOf(relativePath));
        if (route.Count == 0)
        {
            return new UpstreamResult(null, UpstreamFailure.NoUpstream, 0, "", 0);
        }

        // A token of its own only when there is an overall deadline: otherwise the client's is the only limit.
        using var deadline = _deadline is { } limit ? DeadlineSource(limit, clientAborted) : null;

        var send = new Send(this, _httpClientFactory.CreateClient(HttpClientName), incoming, relativePath, route);
        var context = ResilienceContextPool.Shared.Get(deadline?.Token ?? clientAborted);
        try
        {
            var outcome = await _retry.ExecuteOutcomeAsync(static (ctx, send) => send.RoundAsync(ctx.CancellationToken), context, send)
                .ConfigureAwait(false);
            var round = outcome.Result;
            var retries = send.Rounds - 1;
            if (round.Response is { } response)
            {
                return new UpstreamResult(response, UpstreamFailure.None, retries, round.Upstream, send.Tried.Count, round.Model);
            }

            var failure = (round.Error ?? outcome.Exception) switch
            {
                _ when clientAborted.IsCancellationRequested => UpstreamFailure.ClientCancelled,
                _ when deadline?.IsCancellationRequested == true => UpstreamFailure.Deadline,
                TimeoutException => UpstreamFailure.Timeout,
                _ => UpstreamFailure.Unreachable,
            };
            return new UpstreamResult(null, failure, retries, round.Upstream, send.Tried.Count, round.Model);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private static CancellationTokenSource DeadlineSource(TimeSpan limit, CancellationToken clientAborted)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        source.CancelAfter(limit);
        return source;
    }

    /// <summary>The model's upstreams, then its fallback model's, each attempt with the body for its model.</summary>
    private List<Attempt> RouteFor(string? model, ReadOnlyMemory<byte> body, Func<string, ReadOnlyMemory<byte>> bodyFor, Http.ApiDialect dialect)
    {
        var route = _router.Route(model, dialect).Select(u => new Attempt(u, model, body)).ToList();
        if (model is not null && _fallbackModels.TryGet(model, out var fallback))
        {
            var fallbackBody = bodyFor(fallback);
            route.AddRange(_router.Route(fallback, dialect).Select(u => new Attempt(u, fallback, fallbackBody)));
        }

        return route;
    }

    /// <summary>Falls back on what another upstream may answer better: a connect failure, a timeout, 429 or any 5xx.</summary>
    internal static bool ShouldFallBack(Outcome<HttpResponseMessage> outcome) => outcome switch
    {
        { Result: { } r } => r.StatusCode == HttpStatusCode.TooManyRequests || (int)r.StatusCode >= 500,
        { Exception: HttpRequestException or TimeoutException } => true,
        _ => false,
    };

    /// <summary>One call's sends: a round tries each upstream of the route once, until one answers well.</summary>
    private sealed class Send(UpstreamClient owner, HttpClient client, HttpRequest incoming, string relativePath, List<Attempt> route)
    {
        public int Rounds { get; private set; }

        public HashSet<string> Tried { get; } = new(StringComparer.Ordinal);

        public async ValueTask<Outcome<RoundResult>> RoundAsync(CancellationToken cancellationToken)
        {
            Rounds++;
            RoundResult last = default;

            // Breakers count only where there is somewhere else to go; a lone upstream is always tried.
            var guarded = route.Count > 1 && !route.All(a => a.Upstream.IsOut);
            for (var i = 0; i < route.Count; i++)
            {
                var attempt = route[i];
                var outcome = guarded
                    ? await GuardedAttemptAsync(attempt, cancellationToken).ConfigureAwait(false)
                    : await AttemptAsync(attempt, cancellationToken).ConfigureAwait(false);
                if (outcome.Exception is BrokenCircuitException)
                {
                    continue; // Out for now: nothing was sent.
                }

                Tried.Add(attempt.Upstream.Name + "|" + attempt.Model);

                // The answer it falls back from is dropped only now that another one replaces it: an upstream after it
                // may be held out by its breaker (skipped above), and then this answer is the round's.
                last.Response?.Dispose();
                last = new RoundResult(outcome.Result, outcome.Exception, attempt.Upstream.Name, attempt.Model);
                if (cancellationToken.IsCancellationRequested || !ShouldFallBack(outcome) || i == route.Count - 1)
                {
                    break;
                }

                LogFallback(owner._logger, attempt.Upstream.Name, Describe(outcome), route[i + 1].Upstream.Name);
            }

            return Outcome.FromResult(last);
        }

        /// <summary>An attempt through the upstream's breaker: counted there, and refused while it is open.</summary>
        private async ValueTask<Outcome<HttpResponseMessage>> GuardedAttemptAsync(Attempt attempt, CancellationToken cancellationToken)
        {
            var context = ResilienceContextPool.Shared.Get(cancellationToken);
            try
            {
                return await attempt.Upstream.Breaker.ExecuteOutcomeAsync(static (ctx, s) => s.Send.AttemptAsync(s.Attempt, ctx.CancellationToken),
                    context, (Send: this, Attempt: attempt)).ConfigureAwait(false);
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }

        private async ValueTask<Outcome<HttpResponseMessage>> AttemptAsync(Attempt attempt, CancellationToken cancellationToken)
        {
            var upstream = attempt.Upstream;
            var target = upstream.TargetFor(relativePath, incoming.QueryString, attempt.Model);
            if (target is null)
            {
                return Outcome.FromException<HttpResponseMessage>(new InvalidOperationException("The path leaves the upstream's base."));
            }

            (string Name, string Value) authorization;
            try
            {
                authorization = await upstream.AuthorizationAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AuthenticationFailedException or CredentialUnavailableException or RequestFailedException)
            {
                // Counts as unreachable: the next upstream may serve the call.
                LogNoToken(owner._logger, upstream.Name, ex.GetType().Name);
                return Outcome.FromException<HttpResponseMessage>(new HttpRequestException("No managed-identity token for the upstream.", ex));
            }

            using var request = CreateRequest(owner._headers, incoming, target, attempt.Body, authorization);
            if (upstream.Dialect == Http.ApiDialect.Anthropic && !request.Headers.Contains(AnthropicVersionHeader))
            {
                request.Headers.TryAddWithoutValidation(AnthropicVersionHeader, DefaultAnthropicVersion); // required by Anthropic
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(owner.Timeout);
            try
            {
                var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                return Outcome.FromResult(response);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return Outcome.FromException<HttpResponseMessage>(new TimeoutException("No response headers from the upstream in time."));
            }
            catch (Exception ex)
            {
                return Outcome.FromException<HttpResponseMessage>(ex);
            }
        }

        private static string Describe(Outcome<HttpResponseMessage> outcome) => outcome.Result is { } r
            ? ((int)r.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture)
            : outcome.Exception is TimeoutException ? "timeout" : "connect failure";
    }

    /// <summary>One place a call may go: an upstream, the model it is sent as, and the body for that model.</summary>
    private readonly record struct Attempt(Upstream Upstream, string? Model, ReadOnlyMemory<byte> Body);

    /// <summary>What a round ended with: the response to relay (or to retry on), or the error, and whose it is.</summary>
    private readonly record struct RoundResult(HttpResponseMessage? Response, Exception? Error, string Upstream, string? Model);

    private static HttpRequestMessage CreateRequest(HeaderPolicy headers, HttpRequest incoming, Uri target, ReadOnlyMemory<byte> body,
        (string Name, string Value) authorization)
    {
        var request = new HttpRequestMessage(new HttpMethod(incoming.Method), target)
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrHigher,
        };

        if (!body.IsEmpty || HttpMethods.IsPost(incoming.Method) || HttpMethods.IsPut(incoming.Method) || HttpMethods.IsPatch(incoming.Method))
        {
            request.Content = new ReadOnlyMemoryContent(body);
        }

        headers.CopyRequest(incoming.Headers, request);
        request.Headers.TryAddWithoutValidation(authorization.Name, authorization.Value);
        return request;
    }

    /// <summary>Statuses that say "later": 429, 502, 503, 504, and Anthropic's 529 ("overloaded", its 503).</summary>
    internal static bool IsRetryableStatus(HttpStatusCode status) =>
        status is HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout
            or Overloaded;

    private const HttpStatusCode Overloaded = (HttpStatusCode)529;

    private static bool IsConnectFailure(HttpRequestException e) =>
        e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError;

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "No managed-identity token for upstream {Upstream} ({Error}).")]
    private static partial void LogNoToken(ILogger logger, string upstream, string error);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Upstream {Upstream} answered {Status}; falling back to {Next}.")]
    private static partial void LogFallback(ILogger logger, string upstream, string status, string next);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Upstream answered {Status}; retry {Attempt} in {DelayMs} ms.")]
    private static partial void LogRetry(ILogger logger, int attempt, string status, double delayMs);
}
