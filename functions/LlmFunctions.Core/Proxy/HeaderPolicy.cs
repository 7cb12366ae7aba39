using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Which headers cross the proxy, by allowlist in both directions (YARP's header transforms, as a list). Upstream go
/// what an OpenAI-compatible provider needs to serve the call (content type, accept, the SDKs' <c>User-Agent</c>,
/// <c>x-stainless-*</c> and <c>OpenAI-Beta</c>, trace context; Anthropic's <c>anthropic-version</c> and <c>anthropic-beta</c>
/// as the client sent them) and the names in <c>Proxy__ForwardedRequestHeaders</c>;
/// never one that selects an account, project or credential (<c>OpenAI-Organization</c>, <c>OpenAI-Project</c>,
/// <c>x-api-key</c>, <c>api-key</c>): the operator's key decides whose account pays. Back go the headers that describe
/// the call and how to retry it, never those that describe the operator's account.
/// </summary>
internal sealed class HeaderPolicy
{
    private static readonly string[] DefaultRequest =
    [
        "Content-Type", "Accept", "User-Agent", "OpenAI-Beta", "Idempotency-Key", "X-Client-Request-Id", "traceparent", "tracestate",
        "anthropic-version", "anthropic-beta",
    ];

    private static readonly HashSet<string> Response = new(StringComparer.OrdinalIgnoreCase)
    {
        "Content-Type", "Content-Language", "Cache-Control", "x-request-id", "openai-processing-ms", "openai-version",
        "Retry-After", "retry-after-ms", "x-should-retry", "request-id",
    };

    private readonly HashSet<string> _request;

    public HeaderPolicy(IOptions<ProxyOptions> options)
    {
        _request = new HashSet<string>(DefaultRequest, StringComparer.OrdinalIgnoreCase);
        foreach (var name in ProxyOptions.SplitList(options.Value.ForwardedRequestHeaders))
        {
            _request.Add(name);
        }
    }

    /// <summary>Headers that name an account or a credential: never forwarded, whatever the settings say.</summary>
    internal static bool IsCredentialOrAccount(string name) =>
        name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) || name.Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase)
        || name.Equals("api-key", StringComparison.OrdinalIgnoreCase) || name.Equals("x-api-key", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Cookie", StringComparison.OrdinalIgnoreCase) || name.Equals("x-functions-key", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("OpenAI-Organization", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("OpenAI-Project", StringComparison.OrdinalIgnoreCase);

    /// <summary>Copies the client's headers that may go upstream onto <paramref name="request"/>.</summary>
    public void CopyRequest(IHeaderDictionary from, HttpRequestMessage request)
    {
        foreach (var header in from)
        {
            if (!ForwardsRequest(header.Key))
            {
                continue;
            }

            if (!request.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string?>)header.Value))
            {
                request.Content?.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string?>)header.Value);
            }
        }
    }

    /// <summary>Whether a client's request header goes upstream.</summary>
    public bool ForwardsRequest(string name) =>
        !IsCredentialOrAccount(name) && (_request.Contains(name) || name.StartsWith("x-stainless-", StringComparison.OrdinalIgnoreCase));

    /// <summary>Whether an upstream response header goes back to the client.</summary>
    public static bool RelaysResponse(string name) => Response.Contains(name) || name.StartsWith("x-ratelimit-", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("anthropic-ratelimit-", StringComparison.OrdinalIgnoreCase);

    /// <summary>Copies the upstream's response headers that may go back to the client.</summary>
    public static void CopyResponse(HttpResponseMessage from, HttpResponse to)
    {
        Copy(from.Headers, to);
        Copy(from.Content.Headers, to);

        static void Copy(HttpHeaders headers, HttpResponse to)
        {
            foreach (var header in headers)
            {
                if (RelaysResponse(header.Key))
                {
                    to.Headers[header.Key] = header.Value.ToArray();
                }
            }
        }
    }
}
