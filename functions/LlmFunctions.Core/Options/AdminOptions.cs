using System.ComponentModel.DataAnnotations;

namespace LlmFunctions.Core;

/// <summary>Who may read every client's spend (section <c>Admin</c>).</summary>
public sealed class AdminOptions
{
    public const string SectionName = "Admin";

    /// <summary>SHA-256 (64 hex characters) of the admin key that <c>/spend</c> and <c>/spend/calls</c> accept for every
    /// client. Without it, a client key reads only its own spend.</summary>
    [RegularExpression("^[0-9A-Fa-f]{64}$", ErrorMessage = "Admin__KeySha256 must be the SHA-256 of the admin key as 64 hex characters.")]
    public string? KeySha256 { get; set; }
}
