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

    /// <summary>The error type for a status: the table's, else invalid_request_error for a 4xx and api_error for a 5xx.</summary>
    public static string TypeOf(int status) =>
        Array.Find(Types, t => t.Status == status) is { Type: { } type } ? type : status < 500 ? "invalid_request_error" : "api_error";

    /// <summary>The status an error type stands for (an <c>event: error</c> inside a 200 stream); unknown: 500.</summary>
    public static int StatusOf(string type) => Array.Find(Types, t => t.Type == type) is { Type: not null } t ? t.Status : 500;

    public static Task WriteAsync(HttpContext context, int status, string message, DateTimeOffset? resetsAt) =>
        JsonResponse.WriteErrorAsync(context, status, json =>
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
        });
}
