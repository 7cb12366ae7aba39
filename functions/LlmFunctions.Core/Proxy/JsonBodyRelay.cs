using System.Globalization;
using System.Text;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Records;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Relays a non-streaming upstream answer and bills it: a body up to 4 MiB is buffered so that its cost can go in the
/// headers; a larger one is relayed as it arrives and billed from its last bytes (<see cref="BodyTail"/>). A client that
/// leaves is billed from the rest of the body, read but not written. Faults come back as a <see cref="ApiFailure"/>.
/// </summary>
internal sealed class JsonBodyRelay(UpstreamClient upstream, CallBilling billing)
{
    /// <summary>
    /// Non-streaming bodies up to this size are buffered, so their cost goes in the response headers; larger ones are
    /// relayed as they arrive and billed from their last bytes (<see cref="BodyTail"/>): memory stays bounded, none is free.
    /// </summary>
    internal const int MaxBufferedResponseBytes = 4 * 1024 * 1024;

    /// <summary>
    /// Relays a non-streaming body: buffered up to <see cref="MaxBufferedResponseBytes"/> (cost headers), else as it
    /// arrives. <paramref name="start"/> starts the client's response (true: a stream); <paramref name="commit"/> says,
    /// once the call is billed, whether the answer may end. Returns how the relay failed, or null.
    /// </summary>
    public async Task<ApiFailure?> RelayAsync(HttpContext context, HttpResponseMessage response, CallRecord record, string path,
        PooledBufferWriter requestBody, Action<bool> start, RecordCommit commit)
    {
        using var buffer = new PooledBufferWriter((int)Math.Clamp(response.Content.Headers.ContentLength ?? 16 * 1024, 1024, MaxBufferedResponseBytes));
        await using var upstreamStream = await response.Content.ReadAsStreamAsync(context.RequestAborted).ConfigureAwait(false);
        var metered = response.IsSuccessStatusCode && Endpoints.IsMetered(path);
        var (complete, failure) = await ReadHeadAsync(upstreamStream, buffer, context.RequestAborted).ConfigureAwait(false);
        if (failure == ApiFailure.ClientCancelled && metered)
        {
            // The upstream charges for the answer it is writing whether or not anyone reads it: read its usage anyway.
            await RelayRestAsync(upstreamStream, buffer, client: null, record, path, requestBody, CancellationToken.None).ConfigureAwait(false);
        }

        if (failure is not null)
        {
            return failure;
        }

        start(false);
        var http = context.Response;
        if (complete)
        {
            if (metered)
            {
                var (usage, model) = ReadBody(buffer.WrittenSpan, path);
                record.ResponseModel = Text.Truncate(model ?? "");
                billing.Bill(record, usage, path, requestBody.WrittenSpan, usage is null ? GeneratedText(buffer.WrittenSpan, path) : null);
                SetCostHeaders(http, record);
            }

            if (await commit.EndAnswerAsync().ConfigureAwait(false) is { } notStored)
            {
                // Not a byte of it sent: the client gets the 503 alone, without the answer's headers.
                http.Clear();
                http.Headers["x-llm-call-id"] = record.CallId;
                return notStored;
            }

            http.ContentLength = buffer.WrittenCount;
            await http.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
            return null;
        }

        // Too large to buffer: relayed as it comes, and billed from its last bytes (the headers have gone without cost).
        // Without a Content-Length the client's body ends only with the response, after the commit.
        failure = await RelayRestAsync(upstreamStream, buffer, http, metered ? record : null, path, requestBody, context.RequestAborted)
            .ConfigureAwait(false);
        return failure ?? await commit.EndAnswerAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The rest of a body after its first bytes (<paramref name="head"/>): written to <paramref name="client"/> when
    /// given, its last bytes kept, and <paramref name="billTo"/> billed from them (the model from the head).
    /// </summary>
    private async Task<ApiFailure?> RelayRestAsync(Stream upstreamStream, PooledBufferWriter head, HttpResponse? client,
        CallRecord? billTo, string path, PooledBufferWriter requestBody, CancellationToken clientAborted)
    {
        using var tail = new BodyTail();
        tail.Append(head.WrittenSpan);
        var failure = await DrainAsync(upstreamStream, tail, client, clientAborted, head.WrittenMemory).ConfigureAwait(false);
        if (billTo is not null)
        {
            billTo.ResponseModel = Text.Truncate(BodyTail.ReadModel(head.WrittenSpan) ?? "");
            billing.Bill(billTo, tail.ReadUsage(Endpoints.DialectOf(path)), path, requestBody.WrittenSpan, text: null);
        }

        return failure;
    }

    /// <summary>Reads a body into <paramref name="buffer"/> up to its limit: whether it ended there, or how reading failed.</summary>
    private async Task<(bool Complete, ApiFailure? Failure)> ReadHeadAsync(Stream upstreamStream, PooledBufferWriter buffer, CancellationToken clientAborted)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        try
        {
            while (buffer.WrittenCount < MaxBufferedResponseBytes)
            {
                idle.CancelAfter(upstream.Timeout);
                var read = await upstreamStream.ReadAsync(buffer.GetMemory(16 * 1024), idle.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return (true, null);
                }

                buffer.Advance(read);
            }

            return (false, null);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
        {
            return (false, clientAborted.IsCancellationRequested ? ApiFailure.ClientCancelled
                : ex is OperationCanceledException ? ApiFailure.UpstreamBodyStalled
                : ApiFailure.UpstreamBodyBroken);
        }
    }

    /// <summary>
    /// Reads the rest of a body into <paramref name="tail"/>, writing it to <paramref name="client"/> (after
    /// <paramref name="first"/>) when given. Each read has the upstream timeout; when the client leaves, the rest is still
    /// read (not written), for its usage. Returns how the relay failed, or null.
    /// </summary>
    private async Task<ApiFailure?> DrainAsync(Stream upstreamStream, BodyTail tail, HttpResponse? client, CancellationToken clientAborted,
        ReadOnlyMemory<byte> first = default)
    {
        ApiFailure? failure = null;
        var chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
        using var idle = new CancellationTokenSource();
        try
        {
            if (client is not null)
            {
                failure = await WriteAsync(client, first, clientAborted).ConfigureAwait(false);
            }

            while (true)
            {
                int read;
                try
                {
                    idle.CancelAfter(upstream.Timeout);
                    read = await upstreamStream.ReadAsync(chunk, idle.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
                {
                    return failure ?? (ex is OperationCanceledException ? ApiFailure.UpstreamBodyStalled : ApiFailure.UpstreamBodyBroken);
                }

                if (read == 0)
                {
                    return failure;
                }

                tail.Append(chunk.AsSpan(0, read));
                if (client is not null && failure is null)
                {
                    failure = await WriteAsync(client, chunk.AsMemory(0, read), clientAborted).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
        }

        static async Task<ApiFailure?> WriteAsync(HttpResponse client, ReadOnlyMemory<byte> bytes, CancellationToken clientAborted)
        {
            try
            {
                await client.Body.WriteAsync(bytes, clientAborted).ConfigureAwait(false);
                return null;
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                return ApiFailure.ClientCancelled; // the rest is still read, for its usage
            }
        }
    }

    /// <summary>A whole body's usage (in the record's convention) and model, read as its API writes them.</summary>
    private static (Usage? Usage, string? Model) ReadBody(ReadOnlySpan<byte> json, string path)
    {
        if (Endpoints.DialectOf(path) == ApiDialect.Anthropic)
        {
            MessagesFacts.TryRead(json, out var message);
            return (message.Usage?.ToUsage(), message.Model);
        }

        ResponseFacts.TryRead(json, out var facts);
        return (facts.Usage, facts.Model);
    }

    private static StringBuilder GeneratedText(ReadOnlySpan<byte> json, string path)
    {
        var text = new StringBuilder();
        if (Endpoints.DialectOf(path) == ApiDialect.Anthropic)
        {
            MessagesFacts.TryRead(json, out _, text);
        }
        else
        {
            ResponseFacts.TryRead(json, out _, text);
        }

        return text;
    }

    private static void SetCostHeaders(HttpResponse http, CallRecord record)
    {
        foreach (var (name, value) in MeteringFields.Of(record))
        {
            http.Headers[name] = value;
        }
    }
}
