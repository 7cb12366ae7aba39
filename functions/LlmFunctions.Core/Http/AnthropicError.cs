using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Core.Http;

/// <summary>
/// Errors in Anthropic's shape, <c>{"type":"error","error":{"type","message"}}</c>, for the Messages paths; the status
/// of an <see cref="ApiFailure"/> is kept and its error type is Anthropic's for that status (one table, both ways).
/// </summary>
internal static class AnthropicError
{
    /// <summary>Anthropic's error types by status (platform.claude.com/docs/en/api/errors); another 4xx is invalid_request_error.</summary>
    private static readonly (int Status, string Type)[] Types =
    [
        (400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"), (404, "not_found_error"),
        (413, "request_too_large"), (429, "rate_limit_error"), (500, "api_error"), (529, "overloaded_error"),
    ];

    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The error type for a status: the table's, else invalid_request_error for a 4xx and api_error for a 5xx.</summary>
    public static string TypeOf(int status) =>
        Array.Find(Types, t => t.Status == status) is { Type: { } type } ? type : status < 500 ? "invalid_request_error" : "api_error";

    /// <summary>The status an error type stands for (an <c>event: error</c> inside a 200 stream); unknown: 500.</summary>
    public static int StatusOf(string type) => Array.Find(Types, t => t.Type == type) is { Type: not null } t ? t.Status : 500;

    public static async Task WriteAsync(HttpContext context, int status, string message, DateTimeOffset? resetsAt)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            context.Abort(); // too late for an error body: never a partial answer taken for a whole one
            return;
        }

        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        using var buffer = new PooledBufferWriter(256);
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
        {
            json.WriteStartObject();
            json.WriteString("type", "error");
            json.WriteStartObject("error");
            json.WriteString("type", TypeOf(status));
            json.WriteString("message", message);
            if (resetsAt is { } reset)
            {
                json.WriteString("reset_at", reset.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        response.ContentLength = buffer.WrittenCount;
        try
        {
            await response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The client left; nothing to tell it.
        }
    }
}
