using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Sends a request to the configured upstream with the retry policy users asked for: on 429, 502, 503, 504 or a
/// connect failure, wait 2 s, 4 s, 8 s (doubling from <c>Upstream__RetryBaseDelayMs</c>) plus up to 25 % jitter,
/// or what <c>Retry-After</c> says when that is longer, at most <c>Upstream__MaxRetries</c> times. Retries happen
/// only here, before any byte reached the client, and stop as soon as the client leaves.
/// </summary>
internal sealed partial class UpstreamClient
{
    public const string HttpClientName = "upstream";

    private static readonly HashSet<string> SkippedRequestHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        // Credentials and routing that belong to the client's hop, never the upstream's.
        "Authorization", "Cookie", "x-functions-key", "api-key", "Host", "Forwarded", "X-Real-IP",
        "X-Original-URL", "X-Rewrite-URL", "Proxy-Authorization",
        // Hop-by-hop (RFC 9110 §7.6.1) and framing the handler sets itself.
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
        "Content-Length", "Expect",
        // We read usage from bodies, so ask for identity encoding.
        "Accept-Encoding",
    };

    private readonly IHttpClientFactory _httpClientFactory;
    private readonly UpstreamOptions _options;
    private readonly Uri _baseUri;
    private readonly string _authorization;
    private readonly ResiliencePipeline<HttpResponseMessage> _retry;
    private readonly ILogger<UpstreamClient> _logger;

    public UpstreamClient(IHttpClientFactory httpClientFactory, IOptions<UpstreamOptions> options, TimeProvider time, ILogger<UpstreamClient> logger)
    {
        _httpClientFactory = httpClientFactory;
        _options = options.Value;
        _logger = logger;
        _baseUri = new Uri(_options.BaseUrl.TrimEnd('/') + "/", UriKind.Absolute);
        _authorization = "Bearer " + _options.ApiKey;
        Timeout = TimeSpan.FromSeconds(_options.TimeoutSeconds);
        var baseDelay = TimeSpan.FromMilliseconds(_options.RetryBaseDelayMs);
        var maxRetryAfter = TimeSpan.FromSeconds(Math.Max(_options.TimeoutSeconds, 60));

        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time };
        if (_options.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = _options.MaxRetries,
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome switch
                {
                    { Result: { } r } => IsRetryableStatus(r.StatusCode),
                    { Exception: HttpRequestException e } => IsConnectFailure(e),
                    _ => false,
                }),
                DelayGenerator = args =>
                {
                    var exponential = baseDelay * Math.Pow(2, args.AttemptNumber);
                    var jitter = exponential * (Random.Shared.NextDouble() * 0.25);
                    var delay = exponential + jitter;
                    if (args.Outcome.Result?.Headers.RetryAfter is { } retryAfter)
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
                    var status = args.Outcome.Result is { } r
                        ? ((int)r.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture)
                        : "connect failure";
                    LogRetry(_logger, args.AttemptNumber + 1, status, args.RetryDelay.TotalMilliseconds);
                    return ValueTask.CompletedTask;
                },
            });
        }

        _retry = builder.Build();
    }

    public TimeSpan Timeout { get; }

    public Uri BaseUri => _baseUri;

    /// <summary>Builds the upstream URI for a validated <c>/v1</c>-relative path; null if it would leave the base.</summary>
    public Uri? TargetFor(string relativePath, QueryString query)
    {
        var target = new Uri(_baseUri, relativePath + query.Value);
        return target.Scheme == _baseUri.Scheme
            && target.Authority == _baseUri.Authority
            && target.AbsolutePath.StartsWith(_baseUri.AbsolutePath, StringComparison.Ordinal)
            ? target
            : null;
    }

    /// <summary>
    /// Sends with retries and returns once response headers arrived. <paramref name="clientAborted"/> is the
    /// client's token; the header timeout applies to each attempt.
    /// </summary>
    public async Task<UpstreamResult> SendAsync(HttpRequest incoming, Uri target, ReadOnlyMemory<byte> body, CancellationToken clientAborted)
    {
        var client = _httpClientFactory.CreateClient(HttpClientName);
        var retries = 0;
        var attempts = 0;
        var context = ResilienceContextPool.Shared.Get(clientAborted);
        try
        {
            var outcome = await _retry.ExecuteOutcomeAsync(
                async (ctx, state) =>
                {
                    // Runs once per attempt: every run after the first is a retry.
                    retries = attempts++;
                    using var request = state.Self.CreateRequest(state.Incoming, state.Target, state.Body);
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ctx.CancellationToken);
                    timeout.CancelAfter(state.Self.Timeout);
                    try
                    {
                        var response = await state.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                        return Outcome.FromResult(response);
                    }
                    catch (OperationCanceledException) when (!ctx.CancellationToken.IsCancellationRequested)
                    {
                        return Outcome.FromException<HttpResponseMessage>(new TimeoutException("No response headers from the upstream in time."));
                    }
                    catch (Exception ex)
                    {
                        return Outcome.FromException<HttpResponseMessage>(ex);
                    }
                },
                context,
                (Self: this, Client: client, Incoming: incoming, Target: target, Body: body)).ConfigureAwait(false);

            if (outcome.Result is { } result)
            {
                return new UpstreamResult(result, UpstreamFailure.None, retries);
            }

            return outcome.Exception switch
            {
                _ when clientAborted.IsCancellationRequested => new UpstreamResult(null, UpstreamFailure.ClientCancelled, retries),
                TimeoutException => new UpstreamResult(null, UpstreamFailure.Timeout, retries),
                _ => new UpstreamResult(null, UpstreamFailure.Unreachable, retries),
            };
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private HttpRequestMessage CreateRequest(HttpRequest incoming, Uri target, ReadOnlyMemory<byte> body)
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

        foreach (var header in incoming.Headers)
        {
            if (SkippedRequestHeaders.Contains(header.Key)
                || header.Key.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase)
                || header.Key.StartsWith("X-ARR-", StringComparison.OrdinalIgnoreCase)
                || header.Key.StartsWith("X-MS-", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (!request.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string?>)header.Value))
            {
                request.Content?.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string?>)header.Value);
            }
        }

        request.Headers.TryAddWithoutValidation("Authorization", _authorization);
        return request;
    }

    internal static bool IsRetryableStatus(HttpStatusCode status) =>
        status is HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    private static bool IsConnectFailure(HttpRequestException e) =>
        e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError;

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Upstream answered {Status}; retry {Attempt} in {DelayMs} ms.")]
    private static partial void LogRetry(ILogger logger, int attempt, string status, double delayMs);
}
