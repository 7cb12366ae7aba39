using System.ComponentModel.DataAnnotations;

namespace LlmFunctions.Core;

/// <summary>
/// One client, bound from <c>Clients__&lt;name&gt;__*</c>. The name is who the call is billed to;
/// the key is what the client sends as <c>Authorization: Bearer</c> (its OpenAI <c>api_key</c>).
/// </summary>
public sealed class ClientOptions
{
    public const string SectionName = "Clients";

    /// <summary>The section is a map: each child is one client.</summary>
    public const bool IsMapRoot = true;

    /// <summary>The plain key (a secret). Use <see cref="KeySha256"/> to keep plain keys out of configuration.</summary>
    public string? Key { get; set; }

    /// <summary>Hex SHA-256 of the key.</summary>
    public string? KeySha256 { get; set; }

    /// <summary>Optional per-client limit in requests per minute; 0 or unset means none.</summary>
    [Range(0, 1_000_000)]
    public int RequestsPerMinute { get; set; }
}
