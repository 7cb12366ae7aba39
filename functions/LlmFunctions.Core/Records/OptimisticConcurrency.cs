using Polly;
using Polly.Retry;

namespace LlmFunctions.Core.Records;

/// <summary>
/// The one strategy of the optimistic-concurrency loops. An attempt reads a row, works out its change and writes it with
/// the row's ETag, or checks that what it read still holds; when another instance got there first (409, 412, a watermark
/// that moved) its result says it lost the race, and it runs again on a fresh read, after a short random pause so that
/// two losers do not meet again in step. A result that did not lose, and any exception, end it at once. After the last
/// attempt the caller gets that attempt's result, lost or not, and decides what losing every time means (a 503, or the
/// next run tries again): each caller keeps its own count of attempts and its own pause.
/// </summary>
internal static class OptimisticConcurrency
{
    /// <summary>
    /// Runs an attempt up to <paramref name="attempts"/> times in all while <paramref name="lost"/> says its result lost
    /// the race, pausing on <paramref name="time"/> for <paramref name="pause"/> of the lost attempt's number (0 for the
    /// first) before the next; <paramref name="onLost"/> hears of each attempt that lost and is run again.
    /// </summary>
    public static ResiliencePipeline<T> Retry<T>(TimeProvider time, int attempts, Func<T, bool> lost, Func<int, TimeSpan> pause,
        Action<int>? onLost = null) =>
        new ResiliencePipelineBuilder<T> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<T>
            {
                MaxRetryAttempts = attempts - 1,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is null && lost(args.Outcome.Result!)),
                Delay = TimeSpan.Zero,
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(pause(args.AttemptNumber)),
                OnRetry = args =>
                {
                    onLost?.Invoke(args.AttemptNumber);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();

    /// <summary>A random pause of at least <paramref name="fromMs"/> and less than <paramref name="toMs"/> milliseconds.</summary>
    public static TimeSpan Jittered(int fromMs, int toMs) => TimeSpan.FromMilliseconds(Random.Shared.Next(fromMs, toMs));
}
