using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlmFunctions.Core.Budgets;

/// <summary>A ready-to-send webhook request: where, what, which headers.</summary>
internal sealed record WebhookMessage(Uri Url, byte[] Body, IReadOnlyDictionary<string, string> Headers)
{
    public const string TimestampHeader = "X-LlmFunctions-Timestamp";
    public const string SignatureHeader = "X-LlmFunctions-Signature";

    /// <summary>Text as people read it in a chat ("Budget 'demo'", "+00:00"), not <c>\u0027</c> escapes: bodies are
    /// JSON sent to a webhook, never embedded in HTML.</summary>
    private static readonly JsonSerializerOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Builds the message in the webhook's format, signed as that platform documents.</summary>
    public static WebhookMessage Create(WebhookOptions webhook, BudgetNotification n, DateTimeOffset now)
    {
        var url = new Uri(webhook.Url);
        var format = webhook.Format.ToLowerInvariant();
        var body = format switch
        {
            "feishu" => Feishu(n, webhook.Secret, now),
            "dingtalk" => DingTalk(n),
            "slack" => Slack(n),
            "teams" => Teams(n),
            _ => JsonSerializer.SerializeToNode(n, BudgetJsonContext.Default.BudgetNotification)!,
        };
        if (format == "dingtalk" && !string.IsNullOrEmpty(webhook.Secret))
        {
            url = SignDingTalk(url, webhook.Secret, now);
        }

        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString(Readable));
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (webhook.Format.Equals("generic", StringComparison.OrdinalIgnoreCase) && !string.IsNullOrEmpty(webhook.Secret))
        {
            SignGeneric(headers, bytes, webhook.Secret, now);
        }

        return new WebhookMessage(url, bytes, headers);
    }

    private static JsonObject Feishu(BudgetNotification n, string? secret, DateTimeOffset now)
    {
        var body = new JsonObject
        {
            ["msg_type"] = "text",
            ["content"] = new JsonObject { ["text"] = n.Title + "\n" + Text(n) },
        };
        if (!string.IsNullOrEmpty(secret))
        {
            // Feishu: sign = Base64(HMAC-SHA256(key: timestamp + "\n" + secret, message: empty)), timestamp in seconds.
            var ts = now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            body["timestamp"] = ts;
            body["sign"] = Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(ts + "\n" + secret), ReadOnlySpan<byte>.Empty));
        }

        return body;
    }

    private static JsonObject DingTalk(BudgetNotification n) => new()
    {
        ["msgtype"] = "markdown",
        ["markdown"] = new JsonObject { ["title"] = n.Title, ["text"] = "### " + n.Title + "\n\n" + Markdown(n) },
    };

    /// <summary>DingTalk signs in the URL: sign = UrlEncode(Base64(HMAC-SHA256(key: secret, message: timestamp + "\n" + secret))),
    /// timestamp in ms.</summary>
    private static Uri SignDingTalk(Uri url, string secret, DateTimeOffset now)
    {
        var ts = now.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        var sign = Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(ts + "\n" + secret)));
        var separator = string.IsNullOrEmpty(url.Query) ? "?" : "&";
        return new Uri(url + separator + "timestamp=" + ts + "&sign=" + Uri.EscapeDataString(sign));
    }

    private static JsonObject Slack(BudgetNotification n) => new()
    {
        ["text"] = n.Title,
        ["blocks"] = new JsonArray(
            new JsonObject { ["type"] = "header", ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = n.Title } },
            new JsonObject { ["type"] = "section", ["text"] = new JsonObject { ["type"] = "mrkdwn", ["text"] = Markdown(n) } }),
    };

    /// <summary>An Adaptive Card: the title, then the facts as a FactSet.</summary>
    private static JsonObject Teams(BudgetNotification n)
    {
        var facts = new JsonArray();
        foreach (var (title, value) in Facts(n))
        {
            facts.Add(new JsonObject { ["title"] = title, ["value"] = value });
        }

        return new JsonObject
        {
            ["type"] = "message",
            ["attachments"] = new JsonArray(new JsonObject
            {
                ["contentType"] = "application/vnd.microsoft.card.adaptive",
                ["contentUrl"] = null,
                ["content"] = new JsonObject
                {
                    ["$schema"] = "http://adaptivecards.io/schemas/adaptive-card.json",
                    ["type"] = "AdaptiveCard",
                    ["version"] = "1.4",
                    ["body"] = new JsonArray(
                        new JsonObject { ["type"] = "TextBlock", ["text"] = n.Title, ["weight"] = "Bolder", ["size"] = "Medium", ["wrap"] = true },
                        new JsonObject { ["type"] = "FactSet", ["facts"] = facts }),
                },
            }),
        };
    }

    /// <summary>Generic: HMAC-SHA256(secret, timestamp + "." + body), hex, so a receiver can verify and reject old timestamps.</summary>
    private static void SignGeneric(Dictionary<string, string> headers, byte[] body, string secret, DateTimeOffset now)
    {
        var ts = now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var signed = new byte[ts.Length + 1 + body.Length];
        Encoding.ASCII.GetBytes(ts + ".", signed);
        body.CopyTo(signed, ts.Length + 1);
        headers[TimestampHeader] = ts;
        headers[SignatureHeader] = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed));
    }

    private static IEnumerable<(string Title, string Value)> Facts(BudgetNotification n)
    {
        yield return ("Budget", n.Budget);
        yield return ("Scope", n.Scope);
        yield return ("Period", $"{n.Period} {n.PeriodKey}");
        yield return ("Spent", $"${n.SpentUsd.ToString("0.00##", CultureInfo.InvariantCulture)}");
        if (n.Kind != BudgetNotification.DailySummaryKind)
        {
            yield return ("Limit", $"${n.LimitUsd.ToString("0.00", CultureInfo.InvariantCulture)}");
            yield return ("Percent", $"{n.Percent.ToString("0.#", CultureInfo.InvariantCulture)}%");
            yield return ("Threshold crossed", $"{n.Threshold}%");
            yield return ("Action at 100%", n.Action);
            yield return ("Resets at", $"{n.ResetsAt.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC ({n.TimeZone} period)");
        }

        yield return ("Top models", Top(n.TopModels));
        yield return ("Top clients", Top(n.TopClients));
    }

    private static string Top(IReadOnlyList<KeyValuePair<string, decimal>> items) =>
        items.Count == 0 ? "-" : string.Join(", ", items.Select(i => $"{i.Key} ${i.Value.ToString("0.00##", CultureInfo.InvariantCulture)}"));

    private static string Text(BudgetNotification n) => string.Join("\n", Facts(n).Select(f => $"{f.Title}: {f.Value}"));

    private static string Markdown(BudgetNotification n) => string.Join("\n", Facts(n).Select(f => $"- **{f.Title}**: {f.Value}"));
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(BudgetNotification))]
internal sealed partial class BudgetJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
