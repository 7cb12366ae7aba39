namespace LlmFunctions.Core.Keys;

/// <summary>What a key is at a moment: usable, or why not.</summary>
internal enum KeyStatus
{
    Active,
    Expired,
    Revoked,
}
