using System.ComponentModel.DataAnnotations;

namespace LlmFunctions.Core;

/// <summary>Virtual keys: client keys issued at run time through the admin API (section <c>Keys</c>).</summary>
public sealed class KeysOptions
{
    public const string SectionName = "Keys";

    /// <summary>
    /// How often each instance reads the keys changed since its last read, in seconds (1–60). Default 1: a new, changed,
    /// rotated or revoked key takes effect on every instance within about this long plus one storage round trip.
    /// </summary>
    [Range(1, 60)]
    public int RefreshSeconds { get; set; } = 1;

    /// <summary>The most keys the admin API issues (revoked ones count: a name is never reused). Default 100,000.</summary>
    [Range(1, 1_000_000)]
    public int MaxKeys { get; set; } = 100_000;
}
