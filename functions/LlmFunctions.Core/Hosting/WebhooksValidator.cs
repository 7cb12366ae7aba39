namespace LlmFunctions.Core.Hosting;

/// <summary>Start-up checks of <c>Webhooks__*</c>.</summary>
internal static class WebhooksValidator
{
    public const string Message = "Each webhook needs Webhooks__<name>__Url (absolute http(s) URL) and Webhooks__<name>__Format "
        + "(feishu, dingtalk, slack, teams or generic).";

    public static bool Validate(Dictionary<string, WebhookOptions> webhooks) =>
        webhooks.Values.All(w =>
            Uri.TryCreate(w.Url, UriKind.Absolute, out var u) && (u.Scheme == Uri.UriSchemeHttps || u.Scheme == Uri.UriSchemeHttp)
            && w.Format.ToLowerInvariant() is "feishu" or "dingtalk" or "slack" or "teams" or "generic");
}
