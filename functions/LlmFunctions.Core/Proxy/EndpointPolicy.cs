using LlmFunctions.Core.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Which (method, path) pairs go upstream with the operator's key: the metered endpoints (POST), the model list
/// (GET <c>models</c> and <c>models/{id}</c>), and the paths the operator opened with
/// <c>Proxy__UnmeteredSharedPaths</c>. Everything else is answered here. The upstream account is shared by every
/// client, so a path forwarded by default would let one client list, read or delete another's files and batches, or
/// spend outside every budget (images, audio, batches, realtime secrets, stored responses).
/// </summary>
internal sealed class EndpointPolicy
{
    private readonly string[] _shared;

    public EndpointPolicy(IOptions<ProxyOptions> options) => _shared = ProxyOptions.SplitPaths(options.Value.UnmeteredSharedPaths);

    /// <summary>Null when the call may be forwarded; otherwise why not, and (for 405) the method the path takes.</summary>
    public (ApiFailure? Failure, string? Allow) Check(string method, string path)
    {
        if (Endpoints.IsMetered(path) || path == Endpoints.CountTokens)
        {
            return HttpMethods.IsPost(method) ? (null, null) : (WrongMethod(method, path, "POST"), "POST");
        }

        if (path == "models" || (path.StartsWith("models/", StringComparison.Ordinal) && path.IndexOf('/', 7) < 0))
        {
            return HttpMethods.IsGet(method) ? (null, null) : (WrongMethod(method, path, "GET"), "GET");
        }

        foreach (var shared in _shared)
        {
            if (path == shared || (path.StartsWith(shared, StringComparison.Ordinal) && path[shared.Length] == '/'))
            {
                return (null, null);
            }
        }

        return (ApiFailure.Rejected(404, "unsupported_endpoint",
            $"'{Text.Truncate(method)} /v1/{Text.Truncate(path)}' is not served by this proxy: it forwards only metered calls (POST chat/completions, "
            + "completions, responses, embeddings, messages, messages/count_tokens)"
            + " and GET models. An operator can open other paths with Proxy__UnmeteredSharedPaths; "
            + "they are not metered and act on the upstream account every client shares."), null);
    }

    private static ApiFailure WrongMethod(string method, string path, string allowed) => ApiFailure.Rejected(405, "method_not_allowed",
        $"Method {Text.Truncate(method)} is not allowed on /v1/{Text.Truncate(path)}; use {allowed}.");
}
