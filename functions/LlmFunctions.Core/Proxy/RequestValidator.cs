using LlmFunctions.Core.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Step (2) of a call: checks its path, method, size, content type and JSON, and reads its body, which is not read
/// past <c>Proxy__MaxRequestBodyBytes</c>.
/// </summary>
internal sealed class RequestValidator(IOptions<ProxyOptions> options, EndpointPolicy endpoints)
{
    private readonly long _maxBody = options.Value.MaxRequestBodyBytes;

    /// <summary>The request ready to forward, or the reason it is refused. Owns the body buffer.</summary>
    internal sealed class Result(RequestFacts? facts, PooledBufferWriter? body, ApiFailure? failure, CallAttribution? attribution = null)
        : IDisposable
    {
        /// <summary>End user, tags and metadata of a request that passed.</summary>
        public CallAttribution? Attribution { get; } = attribution;

        /// <summary>The JSON body's facts; null for a request without a JSON body (allowed on the other routes).</summary>
        public RequestFacts? Facts { get; } = facts;

        public PooledBufferWriter Body => body ?? throw new InvalidOperationException("A refused request has no body.");

        public ApiFailure? Failure { get; } = failure;

        public void Dispose() => body?.Dispose();
    }

    public async Task<Result> ValidateAsync(HttpContext context, string path, bool safePath)
    {
        var request = context.Request;
        if (!safePath || !UpstreamClient.IsForwardable(path, request.QueryString))
        {
            return Refuse(ApiFailure.Rejected(404, "not_found", $"Unknown path '/v1/{Text.Truncate(path)}'."));
        }

        if (endpoints.Check(request.Method, path) is ({ } refused, var allow))
        {
            if (allow is not null)
            {
                context.Response.Headers.Allow = allow;
            }

            return Refuse(refused);
        }

        var isChat = path == Endpoints.ChatCompletions;
        var dialect = Endpoints.DialectOf(path);

        if (request.ContentLength > _maxBody)
        {
            return Refuse(ApiFailure.Rejected(413, "request_too_large",
                $"The request body is {request.ContentLength} bytes; the limit is {_maxBody} (Proxy__MaxRequestBodyBytes)."));
        }

        var body = new PooledBufferWriter((int)Math.Min(request.ContentLength ?? 4096, _maxBody) + 1);
        var failure = await ReadBodyAsync(request, body, context.RequestAborted).ConfigureAwait(false);
        if (failure is not null)
        {
            body.Dispose();
            return Refuse(failure);
        }

        var isJson = request.ContentType?.Contains("json", StringComparison.OrdinalIgnoreCase) == true;
        RequestFacts? facts = null;
        if (isJson && body.WrittenCount > 0 && !RequestFacts.TryParse(body.WrittenSpan, out facts))
        {
            failure = ApiFailure.Rejected(400, "invalid_json", facts.Problem);
        }
        else if (isChat || dialect == ApiDialect.Anthropic)
        {
            failure = !isJson ? ApiFailure.Rejected(415, "unsupported_media_type", "Content-Type must be application/json.")
                : facts is null ? ApiFailure.Rejected(400, "invalid_json", "The request body is empty; send a JSON object with 'model' and 'messages'.")
                : string.IsNullOrWhiteSpace(facts.Model) ? ApiFailure.Rejected(400, "missing_model", "The request must name a 'model' (a string).")
                : dialect == ApiDialect.Anthropic ? CheckMessages(path, facts)
                : null;
        }

        failure ??= CheckModel(facts?.Model);
        CallAttribution? attribution = null;
        if (failure is null)
        {
            (attribution, failure) = CallAttribution.Read(request.Headers, facts, dialect);
        }

        return new Result(facts, body, failure, attribution);
    }

    private static Result Refuse(ApiFailure failure) => new(null, null, failure);

    /// <summary>
    /// What the Messages API requires and the proxy acts on: <c>max_tokens</c> (the worst case's output) on
    /// <c>messages</c>, and <c>metadata</c> an object of strings (its <c>user_id</c> is the end user).
    /// </summary>
    private static ApiFailure? CheckMessages(string path, RequestFacts facts) =>
        path == Endpoints.Messages && facts.MaxTokens is not > 0
            ? ApiFailure.Rejected(400, "invalid_max_tokens", "'max_tokens' is required: a positive integer.")
        : facts.MetadataMalformed ? ApiFailure.Rejected(400, "invalid_metadata", "'metadata' must be an object whose 'user_id' is a string.")
        : null;

    /// <summary>
    /// Model names are short identifiers (the longest any provider lists is under 100 characters); a longer one, or one
    /// with control characters, is refused before it is forwarded, priced or stored: it becomes a label and a record.
    /// </summary>
    internal const int MaxModelLength = 256;

    private static ApiFailure? CheckModel(string? model) =>
        model is null ? null
        : model.Length > MaxModelLength ? ApiFailure.Rejected(400, "invalid_model",
            $"The model name is {model.Length} characters long; model names are at most {MaxModelLength}.")
        : model.AsSpan().ContainsAnyInRange('\u0000', '\u001F') || model.Contains('\u007F')
            ? ApiFailure.Rejected(400, "invalid_model", "The model name contains control characters.")
        : null;

    /// <summary>Reads the body; a failure when it passes the limit (not read further) or the client leaves first.</summary>
    private async Task<ApiFailure?> ReadBodyAsync(HttpRequest request, PooledBufferWriter body, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var read = await request.Body.ReadAsync(body.GetMemory(8192), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return null;
                }

                body.Advance(read);
                if (body.WrittenCount > _maxBody)
                {
                    break;
                }
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            // The server's own limit came first.
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // The client went away (or broke its framing) before its body arrived: its fault, not a 5xx of ours.
            return ApiFailure.ClientCancelled;
        }

        return ApiFailure.Rejected(413, "request_too_large", $"The request body is larger than the limit of {_maxBody} bytes (Proxy__MaxRequestBodyBytes).");
    }
}
