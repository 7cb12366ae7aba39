using System.Buffers;
using System.Net.ServerSentEvents;
using System.Text;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Records;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Relays an upstream SSE stream event by event and bills it from its usage chunk (asked for and hidden again when the
/// client did not ask), else from the text seen. An Anthropic Messages stream is billed from <c>message_start</c>'s usage
/// overwritten by <c>message_delta</c>'s (cumulative), its cost comment goes before <c>message_stop</c>, and an
/// <c>event: error</c> after the 200 is relayed and recorded as the failure it names. Faults come back as a
/// <see cref="ApiFailure"/>.
/// </summary>
internal sealed partial class SseRelay(UpstreamClient upstream, CallBilling billing, ILogger<SseRelay> logger)
{
    /// <summary>
    /// Relays an SSE stream event by event. A fault while reading is the upstream's (idle past the timeout, or broken)
    /// unless the client left; a fault while writing is the client leaving. Either ends the relay with a failure.
    /// <c>[DONE]</c> goes out only once <paramref name="commit"/> says the answer may end.
    /// </summary>
    public async Task<ApiFailure?> RelayAsync(HttpContext context, HttpResponseMessage response, CallRecord record, string path,
        PooledBufferWriter requestBody, bool hideUsage, Action<bool> start, RecordCommit commit)
    {
        record.Streamed = true;
        var clientAborted = context.RequestAborted;
        await using var upstreamStream = await response.Content.ReadAsStreamAsync(clientAborted).ConfigureAwait(false);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        var parser = SseParser.Create(upstreamStream, static (_, data) => SseChunk.Rent(data));
        var progress = new StreamProgress(hideUsage, Endpoints.DialectOf(path) == ApiDialect.Anthropic);
        ApiFailure? failure = null;
        await using (var events = parser.EnumerateAsync(idle.Token).GetAsyncEnumerator(idle.Token))
        {
            while (failure is null)
            {
                try
                {
                    idle.CancelAfter(upstream.Timeout);
                    if (!await events.MoveNextAsync().ConfigureAwait(false))
                    {
                        break;
                    }
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
                {
                    failure = ReadFailure(ex, clientAborted);
                    break;
                }

                var item = events.Current;
                try
                {
                    // Billed when the end marker comes, so the cost can precede it in the stream.
                    failure = await RelayEventAsync(context, record, item, progress, start, async () =>
                    {
                        Bill(record, path, requestBody, progress);
                        return await commit.MayEndAnswerAsync().ConfigureAwait(false) ? MeteringFields.SseComment(record) : null;
                    }).ConfigureAwait(false);
                }
                finally
                {
                    item.Data.Return();
                }
            }
        }

        failure = Conclude(context, record, path, requestBody, start, progress, failure);

        // A stream without [DONE] (the Responses API's) ends with the response: after its record, like the others.
        return failure ?? await commit.EndAnswerAsync().ConfigureAwait(false);
    }

    /// <summary>Why reading the upstream's stream failed: the client left, the upstream went idle past the timeout, or it broke.</summary>
    private static ApiFailure ReadFailure(Exception ex, CancellationToken clientAborted) =>
        clientAborted.IsCancellationRequested ? ApiFailure.ClientCancelled
        : ex is OperationCanceledException ? ApiFailure.UpstreamStreamIdle
        : ApiFailure.UpstreamStreamBroken;

    /// <summary>
    /// Once the events ended: a stream cut short is a failure (and logged), a stream that ended well without an event still
    /// starts the answer, and a call <c>[DONE]</c> did not bill is billed. Returns the relay's failure, if any.
    /// </summary>
    private ApiFailure? Conclude(HttpContext context, CallRecord record, string path, PooledBufferWriter requestBody, Action<bool> start,
        StreamProgress progress, ApiFailure? failure)
    {
        // The upstream closed without its end marker: a truncated stream, never passed off as complete. A Messages stream
        // that ended with an error event ended as Anthropic ends it: the client has the error, and the record says it.
        var truncated = failure is null && !progress.SawDone && progress.ErrorType is null
            && path is Endpoints.ChatCompletions or "completions" or Endpoints.Messages;
        if (progress.ErrorType is { } errorType)
        {
            record.StatusCode = AnthropicError.StatusOf(errorType);
            record.Outcome = CallOutcome.FromStatus(record.StatusCode);
        }

        if (truncated || (failure is not null && failure != ApiFailure.ClientCancelled && failure != ApiFailure.StorageUnavailable))
        {
            failure ??= ApiFailure.UpstreamStreamBroken;
            LogStreamBroken(logger, record.CallId, truncated ? "closed without [DONE]" : failure.Outcome);
        }

        if (failure is null && !context.Response.HasStarted)
        {
            start(false);
        }

        if (!progress.Billed)
        {
            Bill(record, path, requestBody, progress);
        }

        return failure;
    }

    /// <summary>
    /// Bills the stream: its reported usage; a Messages stream cut before <c>message_delta</c>, what <c>message_start</c>
    /// said plus the output estimated from the text seen (marked estimated); else an estimate.
    /// </summary>
    private void Bill(CallRecord record, string path, PooledBufferWriter requestBody, StreamProgress progress)
    {
        progress.Billed = true;
        if (progress.Messages is { } seen && !progress.SawFinalUsage)
        {
            billing.BillSeenAndEstimate(record, seen.ToUsage(), progress.Text);
            return;
        }

        billing.Bill(record, progress.Messages?.ToUsage() ?? progress.Usage, path, requestBody.WrittenSpan, progress.Text);
    }

    /// <summary>Writes one upstream event to the client; <see cref="ApiFailure.ClientCancelled"/> when it is gone.
    /// <paramref name="billAtDone"/> bills the call and gives the comment that precedes <c>[DONE]</c>, or null when the
    /// stream must not end (its record is not stored).</summary>
    private static async Task<ApiFailure?> RelayEventAsync(HttpContext context, CallRecord record, SseItem<SseChunk> item,
        StreamProgress progress, Action<bool> start, Func<ValueTask<string?>> billAtDone)
    {
        var http = context.Response;
        var chunk = item.Data;
        try
        {
            if (!http.HasStarted)
            {
                start(true);
            }

            if (progress.IsMessages ? string.Equals(item.EventType, "message_stop", StringComparison.Ordinal) : SseWriter.IsDone(chunk.Span))
            {
                progress.SawDone = true;
                if (await billAtDone().ConfigureAwait(false) is not { } comment)
                {
                    return ApiFailure.StorageUnavailable; // aborted without [DONE]: the client never takes it for a whole answer
                }

                http.BodyWriter.Write(Encoding.UTF8.GetBytes(comment));
                if (progress.IsMessages)
                {
                    SseWriter.Write(http.BodyWriter, item.EventType, item.EventId, chunk.Span);
                }
                else
                {
                    SseWriter.WriteDone(http.BodyWriter);
                }
            }
            else if (Inspect(record, chunk, progress) is { } length)
            {
                SseWriter.Write(http.BodyWriter, item.EventType, item.EventId, chunk.Span[..length]);
            }
            else
            {
                return null; // the usage-only chunk we asked for: the client did not
            }

            var flush = await http.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
            return flush.IsCanceled || flush.IsCompleted ? ApiFailure.ClientCancelled : null;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The client left. Disposing the upstream response (on return) cancels the upstream call.
            return ApiFailure.ClientCancelled;
        }
    }

    /// <summary>Takes usage and the model from a stream chunk: the length to relay, or null to drop the chunk.</summary>
    private static int? Inspect(CallRecord record, SseChunk chunk, StreamProgress progress)
    {
        if (progress.IsMessages)
        {
            InspectMessages(record, chunk, progress);
            return chunk.Length;
        }

        if (!ResponseFacts.TryRead(chunk.Span, out var facts, progress.Text, readIdentity: record.ResponseModel.Length == 0))
        {
            return chunk.Length;
        }

        progress.Usage = facts.Usage ?? progress.Usage;
        if (facts.Model is { } model && record.ResponseModel.Length == 0)
        {
            record.ResponseModel = Text.Truncate(model);
        }

        if (!progress.HideUsage)
        {
            return chunk.Length;
        }

        return facts.Usage is not null && facts.ChoicesEmpty ? null : SseWriter.StripNullUsage(chunk.Writable);
    }

    /// <summary>
    /// A Messages stream event: <c>message_start</c>'s usage (input and cache), overwritten field by field by each
    /// <c>message_delta</c>'s (cumulative: never summed); an <c>error</c> event's type.
    /// </summary>
    private static void InspectMessages(CallRecord record, SseChunk chunk, StreamProgress progress)
    {
        if (!MessagesFacts.TryRead(chunk.Span, out var facts, progress.Text, readIdentity: record.ResponseModel.Length == 0))
        {
            return;
        }

        if (facts.Usage is { } usage)
        {
            progress.Messages = progress.Messages is { } seen ? seen.Then(usage) : usage;
            progress.SawFinalUsage |= facts.Type == MessagesEvent.MessageDelta;
        }

        if (facts.Type == MessagesEvent.Error)
        {
            progress.ErrorType = facts.ErrorType ?? "api_error";
        }

        if (facts.Model is { } model && record.ResponseModel.Length == 0)
        {
            record.ResponseModel = Text.Truncate(model);
        }
    }

    /// <summary>What a stream relay has seen so far.</summary>
    private sealed class StreamProgress(bool hideUsage, bool isMessages)
    {
        /// <summary>An Anthropic Messages stream: ends with <c>message_stop</c>, not <c>[DONE]</c>.</summary>
        public bool IsMessages { get; } = isMessages;

        /// <summary>A Messages stream's usage so far.</summary>
        public AnthropicUsage? Messages { get; set; }

        /// <summary>A <c>message_delta</c> came: its usage is the final one.</summary>
        public bool SawFinalUsage { get; set; }

        /// <summary>An <c>event: error</c> after the 200: its <c>error.type</c>.</summary>
        public string? ErrorType { get; set; }

        /// <summary>The client did not ask for usage: we did, so it is taken out again.</summary>
        public bool HideUsage { get; } = hideUsage;

        public StringBuilder Text { get; } = new();

        public Usage? Usage { get; set; }

        public bool SawDone { get; set; }

        public bool Billed { get; set; }
    }

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Stream of call {CallId} broke: {Reason}; the client's stream was aborted.")]
    private static partial void LogStreamBroken(ILogger logger, string callId, string reason);
}
