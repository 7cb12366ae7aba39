using System.Runtime.InteropServices;

namespace LlmFunctions.Core.Keys;

/// <summary>A SHA-256 as a dictionary key: four words, compared and hashed without allocating.</summary>
internal readonly record struct KeyHash(ulong A, ulong B, ulong C, ulong D)
{
    public static KeyHash From(ReadOnlySpan<byte> sha256)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(sha256);
        return new KeyHash(words[0], words[1], words[2], words[3]);
    }

    /// <summary>A stored hash (64 hex digits), read without allocating: it is read on every call with a virtual key.</summary>
    public static KeyHash FromHex(string hex)
    {
        Span<byte> bytes = stackalloc byte[32];
        if (Convert.FromHexString(hex, bytes, out _, out var written) != System.Buffers.OperationStatus.Done || written != bytes.Length)
        {
            throw new FormatException("A key hash is 64 hex digits.");
        }

        return From(bytes);
    }
}
