using Azure.Core;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Managed-identity tokens for Azure OpenAI upstreams (scope <c>https://cognitiveservices.azure.com/.default</c>):
/// one token shared by every call, fetched again once it is within 5 minutes of expiry (or past the refresh time the
/// credential gives), by one caller at a time. Tokens are secrets: never logged, never in a record or an error.
/// </summary>
internal sealed class AzureTokenSource(TokenCredential credential, TimeProvider time) : IDisposable
{
    private static readonly TokenRequestContext Scope = new(["https://cognitiveservices.azure.com/.default"]);
    private static readonly TimeSpan RefreshBefore = TimeSpan.FromMinutes(5);

    private readonly SemaphoreSlim _fetching = new(1, 1);
    private AccessToken? _token;

    /// <summary>Tokens fetched from the credential so far (for tests of the cache).</summary>
    public int Fetched { get; private set; }

    public async ValueTask<string> GetAsync(CancellationToken cancellationToken)
    {
        if (_token is { } cached && IsFresh(cached))
        {
            return cached.Token;
        }

        await _fetching.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_token is { } again && IsFresh(again))
            {
                return again.Token;
            }

            var token = await credential.GetTokenAsync(Scope, cancellationToken).ConfigureAwait(false);
            Fetched++;
            _token = token;
            return token.Token;
        }
        finally
        {
            _fetching.Release();
        }
    }

    public void Dispose() => _fetching.Dispose();

    private bool IsFresh(AccessToken token)
    {
        var now = time.GetUtcNow();
        return token.ExpiresOn - now > RefreshBefore && (token.RefreshOn is not { } refreshOn || refreshOn > now);
    }
}
