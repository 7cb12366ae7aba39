using System.ComponentModel.DataAnnotations;

namespace LlmFunctions.Core;

/// <summary>Limits the proxy applies to client requests (section <c>Proxy</c>).</summary>
public sealed class ProxyOptions
{
    public const string SectionName = "Proxy";

    /// <summary>Largest request body accepted; larger ones get 413 without being read whole. Default 4 MiB.</summary>
    [Range(1024, 256 * 1024 * 1024, ErrorMessage = "Proxy__MaxRequestBodyBytes must be between 1024 and 268435456.")]
    public long MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// Paths under <c>/v1</c> (comma-separated, each with everything under it, any method) forwarded although nothing
    /// meters them, for example <c>files,batches,images/generations</c>. Empty by default. What they do acts on the
    /// upstream account every client shares: any client can then read and delete others' files and batches, and
    /// spend outside every budget. The README lists what each exposes.
    /// </summary>
    public string UnmeteredSharedPaths { get; set; } = "";

    /// <summary>
    /// Request headers forwarded upstream beside the default allowlist (comma-separated names), for a provider that
    /// needs one more. Headers naming an account or a credential are never forwarded, listed here or not.
    /// </summary>
    public string ForwardedRequestHeaders { get; set; } = "";

    internal static string[] SplitList(string value) => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    internal static string[] SplitPaths(string value) => SplitList(value).Select(p => p.Trim('/')).ToArray();
}
