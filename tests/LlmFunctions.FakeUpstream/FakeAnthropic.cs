using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace LlmFunctions.FakeUpstream;

/// <summary>
/// Anthropic's Messages API as the fake upstream speaks it (served by <see cref="FakeOpenAI"/>'s server, on 127.0.0.1):
/// <c>POST /v1/messages</c>, JSON or SSE (<c>message_start</c>, <c>content_block_*</c>, <c>ping</c>, <c>message_delta</c>
/// with cumulative usage, <c>message_stop</c>), a <c>tool_use</c> block when the request forces a tool, cache usage
/// (<see cref="Scenario.CachedTokens"/> reads, <see cref="Scenario.CacheWriteTokens"/> 5-minute and
/// <see cref="Scenario.CacheWrite1hTokens"/> 1-hour writes), thinking tokens, errors in Anthropic's shape (529
/// overloaded, 429…), a stream cut before <c>message_delta</c> (<see cref="Scenario.OmitDone"/>), a reset, an
/// <c>event: error</c> after the 200; and <c>POST /v1/messages/count_tokens</c>. A call without <c>x-api-key</c>,
/// <c>api-key</c> or a bearer token gets 401 <c>authentication_error</c>.
/// </summary>
public static class FakeAnthropic
{
    public const string MessagesPath = "messages";
    public const string CountTokensPath = "messages/count_tokens";

    public static async Task RespondAsync(HttpContext context, string path, string bodyText, Scenario scenario, Action cancelled)
    {
        var headers = context.Request.Headers;
        context.Response.Headers["request-id"] = "req_" + Guid.NewGuid().ToString("N")[..20];
        if (!headers.ContainsKey("x-api-key") && !headers.ContainsKey("api-key") && !headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.Ordinal))
        {
            await ErrorAsync(context, 401, "authentication_error", "x-api-key header is required");
            return;
        }

        if (scenario.Status is { } status)
        {
            if (scenario.RetryAfterSeconds is { } ra)
            {
                context.Response.Headers.RetryAfter = ra.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            await ErrorAsync(context, status, TypeOf(status), status == 529 ? "Overloaded" : $"Fake upstream says {status}.");
            return;
        }

        JsonObject? request;
        try
        {
            request = JsonNode.Parse(bodyText) as JsonObject;
            _ = request?.Count;
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException)
        {
            request = null;
        }

        if (request?["model"] is not JsonValue modelValue || !modelValue.TryGetValue<string>(out var model))
        {
            await ErrorAsync(context, 400, "invalid_request_error", "model: Field required");
            return;
        }

        var input = scenario.PromptTokens ?? Math.Max(1, bodyText.Length / 4);
        if (path == CountTokensPath)
        {
            await WriteJsonAsync(context, new JsonObject { ["input_tokens"] = input + scenario.CachedTokens + scenario.CacheWriteTokens });
            return;
        }

        var words = Enumerable.Range(0, scenario.Words).Select(i => Lexicon[i % Lexicon.Length]).ToList();
        // A tool call when the request forces one (tool_choice any or tool), as a model would; otherwise text. An agent such
        // as Claude Code (tool_choice auto) then ends its turn instead of calling tools for ever.
        var forced = request["tool_choice"]?["type"]?.GetValue<string>() is "any" or "tool";
        var tool = forced ? (request["tools"] as JsonArray)?.FirstOrDefault()?["name"]?.GetValue<string>() : null;
        var reply = new Reply(model, input, words, tool, scenario);
        var stream = request["stream"] is JsonValue s && s.TryGetValue<bool>(out var on) && on;
        if (!stream)
        {
            await WriteJsonAsync(context, reply.Message());
            return;
        }

        try
        {
            await StreamAsync(context, reply, scenario);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            cancelled();
        }
    }

    private static async Task StreamAsync(HttpContext context, Reply reply, Scenario scenario)
    {
        context.Response.ContentType = "text/event-stream; charset=utf-8";
        context.Response.Headers.CacheControl = "no-cache";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var start = reply.Message(content: []);
        start["stop_reason"] = null;
        start["usage"]!["output_tokens"] = 1;
        await EventAsync(context, "message_start", new JsonObject { ["type"] = "message_start", ["message"] = start });
        await EventAsync(context, "content_block_start", Block(0, "content_block_start", new JsonObject { ["type"] = "text", ["text"] = "" }));
        await EventAsync(context, "ping", new JsonObject { ["type"] = "ping" });
        for (var i = 0; i < reply.Words.Count; i++)
        {
            if (scenario.ResetAfterChunks == i)
            {
                await Task.Delay(200, context.RequestAborted);
                context.Abort();
                return;
            }

            if (scenario.ErrorEventAfterChunks == i)
            {
                await EventAsync(context, "error", new JsonObject
                {
                    ["type"] = "error", ["error"] = new JsonObject { ["type"] = "overloaded_error", ["message"] = "Overloaded" },
                });
                return;
            }

            var delta = new JsonObject { ["type"] = "text_delta", ["text"] = (i == 0 ? "" : " ") + reply.Words[i] };
            await EventAsync(context, "content_block_delta", Block(0, "content_block_delta", delta, "delta"));
            if (scenario.ChunkDelay > TimeSpan.Zero)
            {
                await Task.Delay(scenario.ChunkDelay, context.RequestAborted);
            }
        }

        await EventAsync(context, "content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = 0 });
        if (reply.Tool is { } tool)
        {
            var use = new JsonObject { ["type"] = "tool_use", ["id"] = "toolu_fake01", ["name"] = tool, ["input"] = new JsonObject() };
            await EventAsync(context, "content_block_start", Block(1, "content_block_start", use));
            foreach (var part in new[] { "{\"location\": ", "\"Paris\"}" })
            {
                var json = new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = part };
                await EventAsync(context, "content_block_delta", Block(1, "content_block_delta", json, "delta"));
            }

            await EventAsync(context, "content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = 1 });
        }

        if (scenario.OmitDone)
        {
            return; // cut before message_delta: the output count never came
        }

        // Cumulative, as Anthropic now sends it: the input and cache counts again, and the final output.
        await EventAsync(context, "message_delta", new JsonObject
        {
            ["type"] = "message_delta",
            ["delta"] = new JsonObject { ["stop_reason"] = reply.StopReason, ["stop_sequence"] = null },
            ["usage"] = reply.Usage(),
        });
        await EventAsync(context, "message_stop", new JsonObject { ["type"] = "message_stop" });
    }

    private static JsonObject Block(int index, string type, JsonObject block, string member = "content_block") =>
        new() { ["type"] = type, ["index"] = index, [member] = block };

    private static async Task EventAsync(HttpContext context, string name, JsonObject data)
    {
        await context.Response.WriteAsync($"event: {name}\ndata: {data.ToJsonString()}\n\n", context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    private static string TypeOf(int status) => status switch
    {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };

    private static Task ErrorAsync(HttpContext context, int status, string type, string message)
    {
        context.Response.StatusCode = status;
        return WriteJsonAsync(context, new JsonObject
        {
            ["type"] = "error",
            ["error"] = new JsonObject { ["type"] = type, ["message"] = message },
            ["request_id"] = context.Response.Headers["request-id"].ToString(),
        });
    }

    private static async Task WriteJsonAsync(HttpContext context, JsonObject body)
    {
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = bytes.Length;
        await context.Response.Body.WriteAsync(bytes);
    }

    /// <summary>One answer: its text, the tool it calls (if any) and its usage.</summary>
    private sealed record Reply(string Model, long Input, List<string> Words, string? Tool, Scenario Scenario)
    {
        public string StopReason => Tool is null ? "end_turn" : "tool_use";

        /// <summary>Output tokens: one a word, a tool call's 8, and the thinking tokens (inside output_tokens).</summary>
        private long Output => Words.Count + (Tool is null ? 0 : 8) + Scenario.ReasoningTokens;

        public JsonObject Usage()
        {
            var usage = new JsonObject
            {
                ["input_tokens"] = Input,
                ["cache_creation_input_tokens"] = Scenario.CacheWriteTokens + Scenario.CacheWrite1hTokens,
                ["cache_read_input_tokens"] = Scenario.CachedTokens,
                ["cache_creation"] = new JsonObject
                {
                    ["ephemeral_5m_input_tokens"] = Scenario.CacheWriteTokens, ["ephemeral_1h_input_tokens"] = Scenario.CacheWrite1hTokens,
                },
                ["output_tokens"] = Output,
                ["service_tier"] = "standard",
            };
            if (Scenario.ReasoningTokens > 0)
            {
                usage["output_tokens_details"] = new JsonObject { ["thinking_tokens"] = Scenario.ReasoningTokens };
            }

            return usage;
        }

        public JsonObject Message(JsonArray? content = null)
        {
            if (content is null)
            {
                content = [new JsonObject { ["type"] = "text", ["text"] = string.Join(' ', Words) }];
                if (Tool is not null)
                {
                    content.Add(new JsonObject
                    {
                        ["type"] = "tool_use", ["id"] = "toolu_fake01", ["name"] = Tool, ["input"] = new JsonObject { ["location"] = "Paris" },
                    });
                }
            }

            return new JsonObject
            {
                ["id"] = "msg_" + Guid.NewGuid().ToString("N")[..24],
                ["type"] = "message",
                ["role"] = "assistant",
                ["model"] = Model,
                ["content"] = content,
                ["stop_reason"] = StopReason,
                ["stop_sequence"] = null,
                ["usage"] = Usage(),
            };
        }
    }

    private static readonly string[] Lexicon =
    [
        "Claude", "answers", "through", "the", "metering", "proxy", "and", "every", "token", "is", "billed", "once",
    ];
}
