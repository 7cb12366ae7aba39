using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LlmFunctions.FakeUpstream;

/// <summary>
/// A local server that speaks the OpenAI wire format (chat completions, completions, embeddings, responses,
/// models; JSON and SSE), and Anthropic's Messages API on <c>/v1/messages</c> (<see cref="FakeAnthropic"/>), and injects
/// faults on demand: per request through the <c>x-fake-scenario</c> header,
/// or queued by a test with <see cref="Enqueue"/>. Binds 127.0.0.1 only.
/// </summary>
public sealed class FakeOpenAI : IAsyncDisposable
{
    private readonly ConcurrentQueue<Scenario> _queue = new();
    private WebApplication? _app;
    private long _requests;
    private long _cancelled;

    /// <summary>Scenario when nothing is queued and no header asks for one.</summary>
    public Scenario Default { get; set; } = Scenario.Ok;

    /// <summary>Simulated model latency (for the interactive simulator; zero in tests).</summary>
    public TimeSpan Latency { get; set; }

    public string BaseUrl { get; private set; } = "";

    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Streams whose client (the proxy) went away before the stream ended.</summary>
    public long Cancelled => Interlocked.Read(ref _cancelled);

    /// <summary>Keep every request's headers, body and path (off for long fuzz and load runs).</summary>
    public bool RecordRequests { get; set; } = true;

    public ConcurrentQueue<IHeaderDictionary> SeenHeaders { get; } = new();

    public ConcurrentQueue<string> SeenBodies { get; } = new();

    public ConcurrentQueue<string> SeenPaths { get; } = new();

    /// <summary>When set, a call whose model it does not know gets 404 <c>model_not_found</c>, as a provider answers.</summary>
    public Func<string, bool>? KnowsModel { get; set; }

    /// <summary>When set, <c>POST /webhook/{name}</c> is a webhook receiver: each request's signature headers and body are
    /// written here, answered 200.</summary>
    public TextWriter? WebhookLog { get; set; }

    /// <summary>Raised when a stream observes its client leaving.</summary>
    public event Action? StreamCancelled;

    public void Enqueue(params Scenario[] scenarios)
    {
        foreach (var s in scenarios)
        {
            _queue.Enqueue(s);
        }
    }

    public async Task<string> StartAsync(int port = 0, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.WebHost.ConfigureKestrel(o => o.Limits.MaxRequestBodySize = null);
        _app = builder.Build();
        _app.Map("/v1/{**path}", HandleAsync);
        _app.MapPost("/webhook/{name}", ReceiveWebhookAsync);

        // Azure OpenAI's shapes: the v1 OpenAI-compatible path, and deployments with a required api-version.
        _app.Map("/openai/v1/{**path}", (HttpContext context, string? path) => HandleAzureAsync(context, path, deployment: null));
        _app.Map("/openai/deployments/{deployment}/{**path}", (HttpContext context, string deployment, string? path) =>
            HandleAzureAsync(context, path, deployment));

        // Claude on Azure AI Foundry: https://{resource}.services.ai.azure.com/anthropic/v1/messages.
        _app.Map("/anthropic/v1/{**path}", (HttpContext context, string? path) =>
            RespondAsync(context, path, context.Request.Path + context.Request.QueryString));
        await _app.StartAsync(cancellationToken);
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseUrl = address.TrimEnd('/') + "/v1";
        return BaseUrl;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    /// <summary>
    /// Azure OpenAI: answers 401 without an <c>api-key</c> or bearer token and 404 for a deployment call without
    /// <c>api-version</c>, as Azure does; otherwise like OpenAI. Records the whole path and query.
    /// </summary>
    private async Task HandleAzureAsync(HttpContext context, string? path, string? deployment)
    {
        var authorized = context.Request.Headers.ContainsKey("api-key")
            || context.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.Ordinal);
        if (!authorized || (deployment is not null && !context.Request.Query.ContainsKey("api-version")))
        {
            Interlocked.Increment(ref _requests);
            if (RecordRequests)
            {
                SeenHeaders.Enqueue(new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value)));
                SeenPaths.Enqueue(context.Request.Path + context.Request.QueryString);
            }

            context.Response.StatusCode = authorized ? 404 : 401;
            await context.Response.WriteAsJsonAsync(new
            {
                error = new { code = authorized ? "404" : "401", message = authorized ? "Resource not found" : "Access denied" },
            });
            return;
        }

        await RespondAsync(context, path, context.Request.Path + context.Request.QueryString);
    }

    private async Task ReceiveWebhookAsync(HttpContext context, string name)
    {
        if (WebhookLog is not { } log)
        {
            context.Response.StatusCode = 404;
            return;
        }

        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var signed = string.Join(' ', context.Request.Headers.Where(h => h.Key.StartsWith("X-LlmFunctions-", StringComparison.OrdinalIgnoreCase))
            .Select(h => $"{h.Key}: {h.Value}"));
        lock (log)
        {
            log.WriteLine($"Webhook '{name}' received {body.Length} bytes{(signed.Length > 0 ? " (" + signed + ")" : "")}: {body}");
            log.Flush();
        }
    }

    private Task HandleAsync(HttpContext context, string? path) => RespondAsync(context, path, "/v1/" + path + context.Request.QueryString);

    private async Task RespondAsync(HttpContext context, string? path, string seenPath)
    {
        Interlocked.Increment(ref _requests);
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var bodyText = await reader.ReadToEndAsync();
        if (RecordRequests)
        {
            SeenHeaders.Enqueue(new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value)));
            SeenPaths.Enqueue(seenPath);
            SeenBodies.Enqueue(bodyText);
        }

        var scenario = context.Request.Headers.TryGetValue("x-fake-scenario", out var header)
            ? Scenario.Parse(header.ToString())
            : _queue.TryDequeue(out var queued) ? queued : Default;

        if (scenario.HeaderDelay > TimeSpan.Zero)
        {
            await Task.Delay(scenario.HeaderDelay, context.RequestAborted).ContinueWith(_ => { });
        }

        if (Latency > TimeSpan.Zero)
        {
            await Task.Delay(Latency, context.RequestAborted).ContinueWith(_ => { });
        }

        if (path is FakeAnthropic.MessagesPath or FakeAnthropic.CountTokensPath)
        {
            await FakeAnthropic.RespondAsync(context, path, bodyText, scenario, () =>
            {
                Interlocked.Increment(ref _cancelled);
                StreamCancelled?.Invoke();
            });
            return;
        }

        if (scenario.Status is { } status)
        {
            context.Response.StatusCode = status;
            if (scenario.RetryAfterSeconds is { } ra)
            {
                context.Response.Headers.RetryAfter = ra.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            await context.Response.WriteAsJsonAsync(new
            {
                error = new { message = $"Fake upstream says {status}.", type = status == 429 ? "rate_limit_error" : "server_error", code = (string?)null }
            });
            return;
        }

        JsonObject? request = null;
        try
        {
            request = bodyText.Length > 0 ? JsonNode.Parse(bodyText) as JsonObject : null;
            _ = request?.Count; // materialises the members: duplicate names throw here, not later
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException)
        {
            request = null;
        }

        var model = Read<string>(request, "model") ?? "gpt-4.1";
        if (KnowsModel is { } knows && Read<string>(request, "model") is { } asked && !knows(asked))
        {
            context.Response.StatusCode = 404;
            await context.Response.WriteAsJsonAsync(new
            {
                error = new { message = $"The model `{asked}` does not exist or you do not have access to it.", type = "invalid_request_error",
                    param = (string?)null, code = "model_not_found" },
            });
            return;
        }

        var promptTokens = scenario.PromptTokens ?? Math.Max(1, bodyText.Length / 4);
        context.Response.Headers["x-request-id"] = "req_" + Guid.NewGuid().ToString("N")[..16];

        // OpenAI names the account and project that served the call: the operator's, which a proxy must not relay.
        context.Response.Headers["openai-organization"] = "org-operator-canary";
        context.Response.Headers["openai-project"] = "proj_operator-canary";
        context.Response.Headers["x-ratelimit-remaining-requests"] = "59";

        switch (path)
        {
            case "models":
                await context.Response.WriteAsJsonAsync(
                    new { @object = "list", data = new[] { new { id = "gpt-4.1", @object = "model", created = 1700000000, owned_by = "fake" } } });
                return;
            case "embeddings":
                var usage = scenario.NoUsage ? null : new JsonObject { ["prompt_tokens"] = promptTokens, ["total_tokens"] = promptTokens };
                var embedding = new JsonObject
                {
                    ["object"] = "list",
                    ["model"] = model,
                    ["data"] = new JsonArray(new JsonObject { ["object"] = "embedding", ["index"] = 0, ["embedding"] = new JsonArray(0.1, 0.2, 0.3) }),
                };
                if (usage is not null)
                {
                    embedding["usage"] = usage;
                }

                await WriteJsonAsync(context, embedding);
                return;
            case "chat/completions" or "completions" or "responses":
                break;
            default:
                context.Response.StatusCode = 404;
                await context.Response.WriteAsJsonAsync(
                    new { error = new { message = "Unknown fake path.", type = "invalid_request_error", code = "not_found" } });
                return;
        }

        if (scenario.MalformedJson)
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("{\"id\": \"chatcmpl-broken\", \"choices\": [ {");
            return;
        }

        var words = Enumerable.Range(0, scenario.Words).Select(i => Lexicon[i % Lexicon.Length]).ToList();
        if (scenario.PaddingChars > 0)
        {
            words.Add(new string('x', scenario.PaddingChars));
        }

        var completionTokens = (long)words.Count;
        var stream = Read<bool>(request, "stream");
        var includeUsage = Read<bool>(request?["stream_options"] as JsonObject, "include_usage");
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N")[..20];
        JsonObject Usage() => new()
        {
            ["prompt_tokens"] = promptTokens,
            ["completion_tokens"] = completionTokens,
            ["total_tokens"] = promptTokens + completionTokens,
            ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = scenario.CachedTokens, ["cache_write_tokens"] = scenario.CacheWriteTokens },
            ["completion_tokens_details"] = new JsonObject { ["reasoning_tokens"] = scenario.ReasoningTokens },
        };

        if (!stream)
        {
            var message = string.Join(' ', words);
            var body = new JsonObject
            {
                ["id"] = id,
                ["object"] = "chat.completion",
                ["created"] = 1700000000,
                ["model"] = model + "-2025-04-14",
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0,
                    ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = message, ["refusal"] = null },
                    ["finish_reason"] = "stop",
                }),
            };
            if (!scenario.NoUsage)
            {
                body["usage"] = Usage();
            }

            await WriteJsonAsync(context, body);
            return;
        }

        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        try
        {
            if (scenario.MalformedSse)
            {
                await context.Response.WriteAsync("data: {not json at all\n\ndata: [DONE]\n\n", context.RequestAborted);
                return;
            }

            var sent = 0;
            foreach (var word in words)
            {
                if (scenario.StallAfterChunks == sent)
                {
                    await Task.Delay(Timeout.Infinite, context.RequestAborted);
                }

                if (scenario.ResetAfterChunks == sent)
                {
                    // Let the chunks already sent reach the peer first: a reset discards unread data.
                    await Task.Delay(200, context.RequestAborted);
                    context.Features.Get<IConnectionLifetimeNotificationFeature>()?.RequestClose();
                    context.Abort();
                    return;
                }

                var chunk = new JsonObject
                {
                    ["id"] = id,
                    ["object"] = "chat.completion.chunk",
                    ["created"] = 1700000000,
                    ["model"] = model,
                    ["choices"] = new JsonArray(new JsonObject
                    {
                        ["index"] = 0,
                        ["delta"] = new JsonObject { ["content"] = (sent == 0 ? "" : " ") + word },
                        ["finish_reason"] = null,
                    }),
                };
                if (includeUsage && !scenario.NoUsage)
                {
                    chunk["usage"] = null;
                }

                await context.Response.WriteAsync("data: " + chunk.ToJsonString() + "\n\n", context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                sent++;
                if (scenario.ChunkDelay > TimeSpan.Zero)
                {
                    await Task.Delay(scenario.ChunkDelay, context.RequestAborted);
                }
            }

            if (includeUsage && !scenario.NoUsage)
            {
                var usageChunk = new JsonObject
                {
                    ["id"] = id,
                    ["object"] = "chat.completion.chunk",
                    ["created"] = 1700000000,
                    ["model"] = model,
                    ["choices"] = new JsonArray(),
                    ["usage"] = Usage(),
                };
                await context.Response.WriteAsync("data: " + usageChunk.ToJsonString() + "\n\n", context.RequestAborted);
            }

            if (!scenario.OmitDone)
            {
                await context.Response.WriteAsync("data: [DONE]\n\n", context.RequestAborted);
            }
        }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref _cancelled);
            StreamCancelled?.Invoke();
        }
        catch (IOException)
        {
            Interlocked.Increment(ref _cancelled);
            StreamCancelled?.Invoke();
        }
    }

    /// <summary>A request member of the expected JSON type, else default: the fake tolerates any input, like a lenient provider.</summary>
    private static T? Read<T>(JsonObject? json, string name)
    {
        try
        {
            return json?[name] is JsonValue v && v.TryGetValue<T>(out var value) ? value : default;
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException)
        {
            return default;
        }
    }

    private static async Task WriteJsonAsync(HttpContext context, JsonObject body)
    {
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = bytes.Length;
        await context.Response.Body.WriteAsync(bytes);
    }

    private static readonly string[] Lexicon =
    [
        "The", "proxy", "meters", "every", "call", "and", "writes", "one", "durable", "record", "per", "request",
        "so", "nothing", "is", "lost", "when", "instances", "scale", "out", "or", "restart",
    ];
}
