using System.ComponentModel.DataAnnotations;

namespace LlmFunctions.Core;

/// <summary>Limits the proxy applies to client requests (section <c>Proxy</c>).</summary>
public sealed class ProxyOptions
{
    public const string SectionName = "Proxy";

    /// <summary>Largest request body accepted; larger ones get 413 without being read whole. Default 4 MiB.</summary>
    [Range(1024, 256 * 1024 * 1024, ErrorMessage = "Proxy__MaxRequestBodyBytes must be between 1024 and 268435456.")]
    public long MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;
}
