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

    /// <summary>
    /// Base URL including the version segment, e.g. <c>https://api.openai.com/v1</c>. Required. <c>anthropic</c>:
    /// <c>https://api.anthropic.com</c>; <c>azure-anthropic</c>: <c>https://{resource}.services.ai.azure.com/anthropic</c>
    /// (<c>/v1</c> is added when missing).
    /// </summary>
    public string BaseUrl { get; set; } = "";

    /// <summary>
    /// A secret. <c>openai</c>: sent as <c>Authorization: Bearer</c>, required. <c>azure-openai</c>: sent as
    /// <c>api-key</c>; empty: the app's managed identity gets a token for Cognitive Services instead. <c>anthropic</c>: sent
    /// as <c>x-api-key</c>, required. <c>azure-anthropic</c>: sent as <c>api-key</c>; empty: a managed-identity token for
    /// <c>https://ai.azure.com/.default</c>.
    /// </summary>
    public string ApiKey { get; set; } = "";

    /// <summary>
    /// <c>openai</c>: any OpenAI-compatible base URL. <c>azure-openai</c>: an Azure OpenAI (AI Foundry) resource, with
    /// <see cref="ApiVersion"/> through its deployments, else through its v1 OpenAI-compatible path. <c>anthropic</c>:
    /// Anthropic's Messages API. <c>azure-anthropic</c>: Claude on Azure AI Foundry (the model names the deployment).
    /// The two Anthropic kinds serve <c>/v1/messages</c> and <c>/v1/messages/count_tokens</c> only; the OpenAI kinds never do.
    /// </summary>
    public string Kind { get; set; } = UpstreamKinds.OpenAI;

    /// <summary>
    /// <c>azure-openai</c> only. Set (e.g. <c>2024-10-21</c>): calls go to
    /// <c>{BaseUrl}/openai/deployments/{deployment}/…?api-version=</c>, with <see cref="BaseUrl"/> the resource endpoint
    /// (<c>https://name.openai.azure.com</c>). Empty: <see cref="BaseUrl"/> is the v1 path
    /// (<c>https://name.openai.azure.com/openai/v1</c>) and the model names the deployment.
    /// </summary>
    public string ApiVersion { get; set; } = "";

    /// <summary>
    /// <c>azure-openai</c> with <see cref="ApiVersion"/>: <c>model=deployment</c> pairs, comma-separated; a model not
    /// listed goes to the deployment of its own name.
    /// </summary>
    public string Deployments { get; set; } = "";

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

    public const string AzureOpenAI = "azure-openai";

    /// <summary>Anthropic's own API (<c>https://api.anthropic.com</c>).</summary>
    public const string Anthropic = "anthropic";

    /// <summary>Claude on Azure AI Foundry (<c>https://{resource}.services.ai.azure.com/anthropic</c>).</summary>
    public const string AzureAnthropic = "azure-anthropic";

    /// <summary>Whether <paramref name="kind"/> is one of the kinds here.</summary>
    public static bool IsKnown(string kind) =>
        kind.Equals(OpenAI, StringComparison.OrdinalIgnoreCase) || kind.Equals(AzureOpenAI, StringComparison.OrdinalIgnoreCase)
        || kind.Equals(Anthropic, StringComparison.OrdinalIgnoreCase) || kind.Equals(AzureAnthropic, StringComparison.OrdinalIgnoreCase);
}
