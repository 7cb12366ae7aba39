using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>
/// A local webhook endpoint (127.0.0.1) that checks each platform's signature with its own implementation of the
/// documented algorithm, can fail the first N deliveries, and counts what it accepted.
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _failuresLeft;

    private WebhookReceiver(WebApplication app, string format, string? secret, int failFirst)
    {
        _app = app;
        Format = format;
        Secret = secret;
        _failuresLeft = failFirst;
    }

    public string Format { get; }

    public string? Secret { get; }

    public string Url { get; private set; } = "";

    /// <summary>Bodies accepted (answered 2xx after a valid signature).</summary>
    public ConcurrentQueue<JsonNode> Accepted { get; } = new();

    public ConcurrentQueue<string> Rejected { get; } = new();

    public int Attempts;

    /// <summary>The receiver's clock for replay checks (a test that moves the proxy's clock moves this one too).</summary>
    public TimeProvider Clock { get; set; } = TimeProvider.System;

    public static async Task<WebhookReceiver> StartAsync(string format, string? secret = null, int failFirst = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, format, secret, failFirst);
        app.MapPost("/hook", (Delegate)receiver.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Url = address.TrimEnd('/') + "/hook?access_token=tok";
        return receiver;
    }

    private async Task<IResult> HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref Attempts);
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var raw = await reader.ReadToEndAsync();
        if (Interlocked.Decrement(ref _failuresLeft) >= 0)
        {
            return Results.StatusCode(500);
        }

        var body = JsonNode.Parse(raw)!;
        var problem = Verify(context.Request, raw, body);
        if (problem is not null)
        {
            Rejected.Enqueue(problem);
            return Results.StatusCode(401);
        }

        Accepted.Enqueue(body);
        return Results.Ok(new { code = 0 });
    }

    private string? Verify(HttpRequest request, string raw, JsonNode body)
    {
        // Issue 30: text as people read it in chat ("Budget 'demo'", "+00:00"), not "\u0027demo\u0027" or "\u002B00:00".
        if (raw.Contains("\\u00", StringComparison.Ordinal))
        {
            return "escaped ASCII in the body: " + raw;
        }

        var now = Clock.GetUtcNow();
        switch (Format)
        {
            case "feishu":
                if (body["msg_type"]?.GetValue<string>() != "text" || body["content"]?["text"] is null)
                {
                    return "feishu: not a text message";
                }

                if (Secret is not null)
                {
                    // Feishu custom bot: HmacSHA256 keyed with "timestamp\nsecret" over an empty message, Base64.
                    var ts = body["timestamp"]?.GetValue<string>() ?? "";
                    using var hmac = new HMACSHA256(Encoding.UTF8.GetBytes(ts + "\n" + Secret));
                    var expected = Convert.ToBase64String(hmac.ComputeHash([]));
                    if (body["sign"]?.GetValue<string>() != expected || Math.Abs(now.ToUnixTimeSeconds() - long.Parse(ts)) > 3600)
                    {
                        return "feishu: bad sign";
                    }
                }

                return null;
            case "dingtalk":
                if (body["msgtype"]?.GetValue<string>() != "markdown" || body["markdown"]?["text"] is null)
                {
                    return "dingtalk: not markdown";
                }

                if (Secret is not null)
                {
                    // DingTalk robot: HmacSHA256 keyed with the secret over "timestamp\nsecret", Base64, in the query.
                    var ts = request.Query["timestamp"].ToString();
                    using var hmac = new HMACSHA256(Encoding.UTF8.GetBytes(Secret));
                    var expected = Convert.ToBase64String(hmac.ComputeHash(Encoding.UTF8.GetBytes(ts + "\n" + Secret)));
                    if (request.Query["sign"].ToString() != expected || Math.Abs(now.ToUnixTimeMilliseconds() - long.Parse(ts)) > 3_600_000)
                    {
                        return "dingtalk: bad sign";
                    }
                }

                return request.Query["access_token"] == "tok" ? null : "dingtalk: token lost";
            case "slack":
                return body["text"] is not null && body["blocks"] is JsonArray ? null : "slack: shape";
            case "teams":
                return body["type"]?.GetValue<string>() == "message"
                    && body["attachments"]?[0]?["contentType"]?.GetValue<string>() == "application/vnd.microsoft.card.adaptive"
                    && body["attachments"]?[0]?["content"]?["type"]?.GetValue<string>() == "AdaptiveCard"
                    ? null : "teams: shape";
            default:
                if (Secret is not null)
                {
                    var ts = request.Headers["X-LlmFunctions-Timestamp"].ToString();
                    using var hmac = new HMACSHA256(Encoding.UTF8.GetBytes(Secret));
                    var expected = "sha256=" + Convert.ToHexString(hmac.ComputeHash(Encoding.UTF8.GetBytes(ts + "." + raw))).ToLowerInvariant();
                    if (request.Headers["X-LlmFunctions-Signature"].ToString() != expected)
                    {
                        return "generic: bad signature";
                    }

                    if (Math.Abs(now.ToUnixTimeSeconds() - long.Parse(ts)) > 300)
                    {
                        return "generic: replayed (old timestamp)";
                    }
                }

                return body["budget"] is not null ? null : "generic: fields missing";
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
