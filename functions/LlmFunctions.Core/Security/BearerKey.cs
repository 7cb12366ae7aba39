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

        var key = authorization.AsSpan(7).Trim();
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

    /// <summary>Whether the bearer key in <paramref name="authorization"/> has the SHA-256 <paramref name="expected"/>.</summary>
    public static bool Matches(string? authorization, ReadOnlySpan<byte> expected)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        return TryHash(authorization, hash) && CryptographicOperations.FixedTimeEquals(hash, expected);
    }

    /// <summary>The SHA-256 of a configured secret.</summary>
    public static byte[] HashOf(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));
}
