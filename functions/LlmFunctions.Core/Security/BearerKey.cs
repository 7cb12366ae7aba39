using System.Security.Cryptography;
using System.Text;

namespace LlmFunctions.Core.Security;

/// <summary>
/// The one reader of <c>Authorization: Bearer</c> values (client keys, the admin key, the scrape token): a key is only
/// ever held as its SHA-256 and compared in fixed time, so no caller keeps or compares the secret itself.
/// </summary>
internal static class BearerKey
{
    /// <summary>The longest key read; a longer one is no key (Kestrel bounds the header itself).</summary>
    public const int MaxLength = 1024;

    /// <summary>The SHA-256 of the key in an <c>Authorization: Bearer</c> value; false when there is no usable key.</summary>
    public static bool TryHash(string? authorization, Span<byte> hash)
    {
        if (authorization is null || !authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return TryHashKey(authorization.AsSpan(7), hash);
    }

    /// <summary>The SHA-256 of a key as sent (surrounding spaces trimmed); false when empty or too long.</summary>
    private static bool TryHashKey(ReadOnlySpan<char> sent, Span<byte> hash)
    {
        var key = sent.Trim();
        if (key.IsEmpty || key.Length > MaxLength)
        {
            return false;
        }

        var bytes = Encoding.UTF8.GetByteCount(key);
        var buffer = bytes <= MaxLength ? stackalloc byte[bytes] : new byte[bytes];
        Encoding.UTF8.GetBytes(key, buffer);
        SHA256.HashData(buffer, hash);
        return true;
    }

    /// <summary>
    /// The SHA-256 of a client key sent as <c>x-api-key</c> (the Anthropic SDKs, Claude Code) or as
    /// <c>Authorization: Bearer</c> (<c>ANTHROPIC_AUTH_TOKEN</c>): <see cref="KeyRead.Conflicting"/> when both carry a key and
    /// they differ, or <c>x-api-key</c> is given twice (which key is meant is not ours to guess).
    /// </summary>
    public static KeyRead TryHashEither(string? authorization, Microsoft.Extensions.Primitives.StringValues apiKey, Span<byte> hash)
    {
        if (apiKey.Count > 1)
        {
            return KeyRead.Conflicting;
        }

        Span<byte> bearer = stackalloc byte[SHA256.HashSizeInBytes];
        var hasBearer = TryHash(authorization, bearer);
        var hasApiKey = apiKey.Count == 1 && TryHashKey(apiKey[0], hash);
        if (!hasApiKey && !string.IsNullOrWhiteSpace(apiKey.ToString()))
        {
            return KeyRead.Missing; // an x-api-key that is no key (too long) is a wrong key, whatever else came
        }

        if (hasBearer && hasApiKey)
        {
            return CryptographicOperations.FixedTimeEquals(bearer, hash) ? KeyRead.Read : KeyRead.Conflicting;
        }

        if (hasBearer)
        {
            bearer.CopyTo(hash);
        }

        return hasBearer || hasApiKey ? KeyRead.Read : KeyRead.Missing;
    }

    /// <summary>Whether the bearer key in <paramref name="authorization"/> has the SHA-256 <paramref name="expected"/>.</summary>
    public static bool Matches(string? authorization, ReadOnlySpan<byte> expected)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        return TryHash(authorization, hash) && CryptographicOperations.FixedTimeEquals(hash, expected);
    }

    /// <summary>The SHA-256 of a configured secret.</summary>
    public static byte[] HashOf(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));
}

/// <summary>What <see cref="BearerKey.TryHashEither"/> found.</summary>
internal enum KeyRead
{
    Missing,
    Read,
    Conflicting,
}
