using System.ComponentModel.DataAnnotations;

namespace LlmFunctions.Core;

/// <summary>Who may read every client's spend and manage the virtual keys (section <c>Admin</c>).</summary>
public sealed class AdminOptions
{
    public const string SectionName = "Admin";

    /// <summary>SHA-256 (64 hex characters) of the admin key that <c>/spend</c> and <c>/spend/calls</c> accept for every
    /// client, and the admin API (<c>/keys</c>) alone takes. Without it, a client key reads only its own spend, and the admin
    /// API is off.</summary>
    [RegularExpression("^[0-9A-Fa-f]{64}$", ErrorMessage = "Admin__KeySha256 must be the SHA-256 of the admin key as 64 hex characters.")]
    public string? KeySha256 { get; set; }

    /// <summary>The admin key's SHA-256 as bytes, or null when none is set: the one reading of <see cref="KeySha256"/>.</summary>
    internal byte[]? KeyHash() => string.IsNullOrEmpty(KeySha256) ? null : Convert.FromHexString(KeySha256.Trim());
}
