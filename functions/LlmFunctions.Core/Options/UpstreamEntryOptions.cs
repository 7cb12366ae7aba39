namespace LlmFunctions.Core;

/// <summary>
/// One more upstream (section <c>Upstreams__&lt;name&gt;</c>): the models it serves, where, and with which key. The
/// default upstream (<c>Upstream__*</c>) serves every model no entry claims; timeouts and retries are
/// <c>Upstream__*</c>'s for all of them.
/// </summary>
public sealed class UpstreamEntryOptions
{
    public const string SectionName = "Upstreams";

    /// <summary>Each entry is one item of the <c>Upstreams__&lt;name&gt;</c> map (for the app-settings coverage test).</summary>
    public const bool IsMapRoot = true;

    /// <summary>Base URL including the version segment, e.g. <c>https://api.openai.com/v1</c>. Required.</summary>
    public string BaseUrl { get; set; } = "";

    /// <summary>Sent as <c>Authorization: Bearer</c>. Required; a secret.</summary>
    public string ApiKey { get; set; } = "";

    /// <summary><c>openai</c>: any OpenAI-compatible base URL (the only kind this version knows).</summary>
    public string Kind { get; set; } = UpstreamKinds.OpenAI;

    /// <summary>
    /// The models it serves, comma-separated: exact names, or prefixes ending in <c>*</c> (<c>gpt-*</c>). Required.
    /// </summary>
    public string Models { get; set; } = "";

    /// <summary>
    /// Share of the calls when several upstreams serve a model equally well (1–1000); the others are its fallbacks.
    /// Required on each upstream that claims an exact model another also claims.
    /// </summary>
    public int? Weight { get; set; }
}

/// <summary>The upstream kinds (<c>Upstreams__&lt;name&gt;__Kind</c>).</summary>
public static class UpstreamKinds
{
    public const string OpenAI = "openai";
}
