using LlmFunctions.Core.Http;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Proxy;

/// <summary>Start-up checks of <c>Proxy__*</c> lists against the proxy's own rules, each failure naming the key.</summary>
internal sealed class ProxyOptionsValidator : IValidateOptions<ProxyOptions>
{
    public ValidateOptionsResult Validate(string? name, ProxyOptions options)
    {
        var errors = new List<string>();
        foreach (var header in ProxyOptions.SplitList(options.ForwardedRequestHeaders))
        {
            if (HeaderPolicy.IsCredentialOrAccount(header) || !header.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                errors.Add($"Proxy__ForwardedRequestHeaders: '{header}' is not a header name the proxy forwards (credentials and accounts never are).");
            }
        }

        foreach (var path in ProxyOptions.SplitPaths(options.UnmeteredSharedPaths))
        {
            if (!Endpoints.IsSafePath(path))
            {
                errors.Add($"Proxy__UnmeteredSharedPaths: '{path}' is not a plain path under /v1 (letters, digits, '-', '_', '.', '/').");
            }
            else if (Endpoints.IsMetered(path) || path == "models")
            {
                errors.Add($"Proxy__UnmeteredSharedPaths: '{path}' is metered or served already; list only other paths.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
