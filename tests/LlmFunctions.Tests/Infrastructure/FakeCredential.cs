using Azure.Core;
using Azure.Identity;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>
/// A managed identity for tests: hands out <see cref="Token"/> valid for an hour from the system clock (the host's clock
/// moves on), counts the calls and keeps the scopes asked for, or fails as a machine without one does.
/// </summary>
internal sealed class FakeCredential(string token) : TokenCredential
{
    private int _calls;

    public string Token { get; set; } = token;

    public bool Fail { get; set; }

    public int Calls => _calls;

    public System.Collections.Concurrent.ConcurrentBag<string> Scopes { get; } = [];

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        GetTokenAsync(requestContext, cancellationToken).AsTask().GetAwaiter().GetResult();

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        foreach (var scope in requestContext.Scopes)
        {
            Scopes.Add(scope);
        }

        return Fail
            ? throw new CredentialUnavailableException("No managed identity here.")
            : ValueTask.FromResult(new AccessToken(Token, DateTimeOffset.UtcNow.AddHours(1)));
    }
}
