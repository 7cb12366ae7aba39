using System.Security.Cryptography;
using LlmFunctions.Core.Keys;
using LlmFunctions.Core.Security;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Spend;

/// <summary>Who is asking the spend endpoints: the admin (every client), or one client (its own spend only).</summary>
internal sealed record SpendCaller(string? Client)
{
    public bool IsAdmin => Client is null;
}

/// <summary>
/// Tells the admin key (<c>Admin__KeySha256</c>, compared as a SHA-256 hash in constant time) from client keys
/// (<see cref="ClientAuthenticator"/>); anything else is nobody.
/// </summary>
internal sealed class SpendAuthenticator(IOptions<AdminOptions> admin, ClientAuthenticator clients)
{
    private readonly byte[]? _adminHash = admin.Value.KeyHash();

    public SpendCaller? Authenticate(string? authorization)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        if (!BearerKey.TryHash(authorization, hash))
        {
            return null;
        }

        if (_adminHash is not null && CryptographicOperations.FixedTimeEquals(hash, _adminHash))
        {
            return new SpendCaller(null);
        }

        return clients.FindActive(hash) is { } client ? new SpendCaller(client) : null;
    }
}
