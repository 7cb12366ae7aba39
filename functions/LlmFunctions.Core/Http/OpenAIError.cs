using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Core.Http;

/// <summary>Writes errors in the OpenAI shape: <c>{"error":{"message","type","code"}}</c>.</summary>
internal static class OpenAIError
{
    public const string InvalidRequest = "invalid_request_error";

    /// <summary><c>Retry-After</c> in whole seconds, rounded up and at least 1.</summary>
    public static void SetRetryAfter(HttpResponse response, TimeSpan wait) =>
        response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static Task WriteAsync(HttpContext context, int status, string message, string type, string code, DateTimeOffset? resetsAt = null) =>
        JsonResponse.WriteErrorAsync(context, status, json =>
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
        });
}
