using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Security;

/// <summary>
/// Finds the client a bearer key belongs to. Keys are kept only as SHA-256 hashes and compared with
/// <see cref="CryptographicOperations.FixedTimeEquals"/> against every client, so neither the comparison nor the
/// loop leaks which bytes or which client matched through timing.
/// </summary>
internal sealed class ClientAuthenticator
{
    private readonly (string Name, byte[] Hash)[] _clients;

    public ClientAuthenticator(IOptions<Dictionary<string, ClientOptions>> options)
    {
        _clients = options.Value
            .Select(c => (c.Key, Hash(c.Value)))
            .ToArray();
    }

    public int Count => _clients.Length;

    public IEnumerable<string> Names => _clients.Select(c => c.Name);

    /// <summary>Returns the client name for an <c>Authorization</c> header value, or null.</summary>
    public string? Authenticate(string? authorization)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        return BearerKey.TryHash(authorization, hash) ? Find(hash) : null;
    }

    /// <summary>The client whose key has this SHA-256, or null.</summary>
    internal string? Find(ReadOnlySpan<byte> hash)
    {
        string? match = null;
        foreach (var (name, expected) in _clients)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, expected))
            {
                match = name;
            }
        }

        return match;
    }

    internal static byte[] Hash(ClientOptions client)
    {
        if (!string.IsNullOrEmpty(client.KeySha256))
        {
            return Convert.FromHexString(client.KeySha256.Trim());
        }

        return BearerKey.HashOf(client.Key!);
    }
}
