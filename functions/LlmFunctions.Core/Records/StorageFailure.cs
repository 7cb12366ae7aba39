using Azure;
using Polly;
using Polly.Retry;

namespace LlmFunctions.Core.Records;

/// <summary>
/// What a failed storage request says, classified once for the writer and the replayer. Table Storage throttles with
/// 503 <c>ServerBusy</c> and times out with 500 <c>OperationTimedOut</c> (sometimes after committing) under partition or
/// account pressure: worth a retry after a back-off, and no sign that storage is gone. A refusal (400, 413) is the
/// request's own fault. Only a request that never got an answer says storage is unreachable.
/// </summary>
internal static class StorageFailure
{
    /// <summary>Storage answered "not now": back off and try again.</summary>
    public static bool IsThrottled(Exception ex) => ex is RequestFailedException { Status: 429 or 500 or 503 };

    /// <summary>No answer at all (connection refused or reset, the network timeout): storage may be down.</summary>
    public static bool IsUnreachable(Exception ex) =>
        ex is HttpRequestException or TaskCanceledException or IOException or AggregateException or RequestFailedException { Status: 0 };

    /// <summary>Storage refused the request for what it holds (too large, a character it does not take): a retry fails alike.</summary>
    public static bool IsRefusal(Exception ex) => ex is RequestFailedException { Status: 400 or 413 };

    /// <summary>Any failure of storage rather than of our code.</summary>
    public static bool Any(Exception ex) => ex is RequestFailedException || IsUnreachable(ex);

    /// <summary>For logs: the status and error code, or the exception's type (and its cause's, for a request without an answer).</summary>
    public static string Describe(Exception? ex) => ex switch
    {
        RequestFailedException { Status: 0 } r => $"no answer: {r.InnerException?.GetType().Name ?? r.GetType().Name}",
        RequestFailedException r => $"{r.Status} {r.ErrorCode}",
        null => "?",
        _ => ex.GetType().Name,
    };

    /// <summary>Retries of a throttled request before its caller gives up on it (about 3 s in all).</summary>
    public const int MaxThrottledRetries = 5;

    /// <summary>
    /// Retries what storage throttled (<see cref="IsThrottled"/>) up to <see cref="MaxThrottledRetries"/> times, backing
    /// off from 100 ms with jitter, and an unreachable request <paramref name="unreachableRetries"/> times.
    /// </summary>
    public static ResiliencePipeline Retry(TimeProvider time, int unreachableRetries, Action<int, Exception?>? onRetry = null) =>
        new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = MaxThrottledRetries,
                Delay = TimeSpan.FromMilliseconds(100),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex
                    && (IsThrottled(ex) || (IsUnreachable(ex) && args.AttemptNumber < unreachableRetries))),
                OnRetry = args =>
                {
                    onRetry?.Invoke(args.AttemptNumber + 1, args.Outcome.Exception);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
}
