using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Core.Http;

/// <summary>Writes errors in the OpenAI shape: <c>{"error":{"message","type","code"}}</c>.</summary>
internal static class OpenAIError
{
    public const string InvalidRequest = "invalid_request_error";

    /// <summary>A JSON body, never HTML: quotes and apostrophes in a message read as written, not as <c>\u0027</c>.</summary>
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary><c>Retry-After</c> in whole seconds, rounded up and at least 1.</summary>
    public static void SetRetryAfter(HttpResponse response, TimeSpan wait) =>
        response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static async Task WriteAsync(HttpContext context, int status, string message, string type, string code, DateTimeOffset? resetsAt = null)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            // Too late for an error body: abort so the client never mistakes a partial answer for a whole one.
            context.Abort();
            return;
        }

        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        using var buffer = new PooledBufferWriter(256);
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
        {
            json.WriteStartObject();
            json.WriteStartObject("error");
            json.WriteString("message", message);
            json.WriteString("type", type);
            json.WriteString("code", code);
            json.WriteNull("param");
            if (resetsAt is { } reset)
            {
                json.WriteString("reset_at", reset.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
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
