using Azure.Core;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Managed-identity tokens for Azure upstreams: Azure OpenAI (scope <c>https://cognitiveservices.azure.com/.default</c>)
/// and Claude on Azure AI Foundry (<c>https://ai.azure.com/.default</c>). One token per scope shared by every call,
/// fetched again once it is within 5 minutes of expiry (or past the refresh time the credential gives), by one caller at a
/// time. Tokens are secrets: never logged, never in a record or an error.
/// </summary>
internal sealed class AzureTokenSource(TokenCredential credential, TimeProvider time) : IDisposable
{
    public const string CognitiveServicesScope = "https://cognitiveservices.azure.com/.default";

    public const string AiFoundryScope = "https://ai.azure.com/.default";

    private static readonly TimeSpan RefreshBefore = TimeSpan.FromMinutes(5);

    private readonly SemaphoreSlim _fetching = new(1, 1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, AccessToken> _tokens = new(StringComparer.Ordinal);

    /// <summary>Tokens fetched from the credential so far (for tests of the cache).</summary>
    public int Fetched { get; private set; }

    /// <summary>A token for Azure OpenAI (Cognitive Services).</summary>
    public ValueTask<string> GetAsync(CancellationToken cancellationToken) => GetAsync(CognitiveServicesScope, cancellationToken);

    public async ValueTask<string> GetAsync(string scope, CancellationToken cancellationToken)
    {
        if (_tokens.TryGetValue(scope, out var cached) && IsFresh(cached))
        {
            return cached.Token;
        }

        await _fetching.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_tokens.TryGetValue(scope, out var again) && IsFresh(again))
            {
                return again.Token;
            }

            var token = await credential.GetTokenAsync(new TokenRequestContext([scope]), cancellationToken).ConfigureAwait(false);
            Fetched++;
            _tokens[scope] = token;
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
