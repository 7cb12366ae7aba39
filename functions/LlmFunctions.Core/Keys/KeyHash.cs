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

    public static KeyHash FromHex(string hex) => From(Convert.FromHexString(hex));
}
