namespace LlmFunctions.Core;

/// <summary>One webhook, bound from <c>Webhooks__&lt;name&gt;__*</c>.</summary>
public sealed class WebhookOptions
{
    public const string SectionName = "Webhooks";

    /// <summary>The section is a map: each child is one webhook.</summary>
    public const bool IsMapRoot = true;

    /// <summary>Receiver URL (often carries a token: a secret).</summary>
    public string Url { get; set; } = "";

    /// <summary><c>feishu</c>, <c>dingtalk</c>, <c>slack</c>, <c>teams</c> or <c>generic</c>.</summary>
    public string Format { get; set; } = "generic";

    /// <summary>Signing secret, where the format supports one.</summary>
    public string? Secret { get; set; }
}
