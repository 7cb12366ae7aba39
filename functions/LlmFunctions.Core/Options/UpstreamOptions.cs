using System.ComponentModel.DataAnnotations;

namespace LlmFunctions.Core;

/// <summary>
/// The default OpenAI-compatible provider (section <c>Upstream</c>): it serves every model no <c>Upstreams__*</c>
/// entry claims, and its timeout and retry settings apply to every upstream.
/// </summary>
public sealed class UpstreamOptions
{
    public const string SectionName = "Upstream";

    /// <summary>
    /// Base URL including the version segment, e.g. <c>https://api.holysheep.ai/v1</c>. Required unless
    /// <c>Upstreams__*</c> are set (then models none of them claims are refused).
    /// </summary>
    public string BaseUrl { get; set; } = "";

    /// <summary>The upstream key sent as <c>Authorization: Bearer</c>. Required with a base URL; a secret.</summary>
    public string ApiKey { get; set; } = "";

    /// <summary>Time to response headers, and idle time between stream chunks. Default 60 s.</summary>
    [Range(1, 3600, ErrorMessage = "Upstream__TimeoutSeconds must be between 1 and 3600.")]
    public int TimeoutSeconds { get; set; } = 60;

    /// <summary>Retries on 429/502/503/504, Anthropic's 529 and connect failure before the first byte reached the client. Default 3.</summary>
    [Range(0, 10, ErrorMessage = "Upstream__MaxRetries must be between 0 and 10.")]
    public int MaxRetries { get; set; } = 3;

    /// <summary>
    /// The most a call may spend before its first byte on every attempt, fallback and retry together; past it the call
    /// gets 504. 0: no overall limit (each attempt still has <see cref="TimeoutSeconds"/>). Default 0.
    /// </summary>
    [Range(0, 3600, ErrorMessage = "Upstream__DeadlineSeconds must be between 0 and 3600.")]
    public int DeadlineSeconds { get; set; }

    /// <summary>
    /// <c>model=fallback</c> pairs, comma-separated: when every upstream of a model failed before the first byte, the call
    /// is sent as the fallback model to the upstreams that serve it (and billed as that model). Default none.
    /// </summary>
    public string FallbackModels { get; set; } = "";

    /// <summary>First retry delay; later ones double (2 s, 4 s, 8 s) plus jitter. Default 2000 ms.</summary>
    [Range(0, 60_000, ErrorMessage = "Upstream__RetryBaseDelayMs must be between 0 and 60000.")]
    public int RetryBaseDelayMs { get; set; } = 2000;
}
