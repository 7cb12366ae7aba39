using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Core.Http;

/// <summary>A JSON answer of ours (reports, the admin API, errors in either API's shape), written whole with its length.</summary>
internal static class JsonResponse
{
    /// <summary>A JSON body, never HTML: quotes and apostrophes in a message read as written, not as <c>\u0027</c>.</summary>
    private static readonly JsonWriterOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// An error body: not cached, and never after the answer has started (then the connection is aborted, so that the
    /// client never takes a partial answer for a whole one); a client that left is told nothing.
    /// </summary>
    public static async Task WriteErrorAsync(HttpContext context, int status, Action<Utf8JsonWriter> write)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            context.Abort();
            return;
        }

        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        using var buffer = new PooledBufferWriter(256);
        using (var json = new Utf8JsonWriter(buffer, Relaxed))
        {
            write(json);
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

    public static async Task WriteAsync(HttpContext context, int status, Action<Utf8JsonWriter> write)
    {
        using var buffer = new PooledBufferWriter(4096);
        using (var json = new Utf8JsonWriter(buffer))
        {
            write(json);
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.ContentLength = buffer.WrittenCount;
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }
}
