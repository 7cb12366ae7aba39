using System.Threading.RateLimiting;
using LlmFunctions.Core.Security;

namespace LlmFunctions.Core.Spend;

/// <summary>
/// Bounds the spend endpoints per key: <see cref="PerMinute"/> requests a minute (sliding window) for each client key and
/// for the admin key, per instance. A report reads aggregate rows from the partition the fold and every scrape use, so
/// an unbounded loop of one-year reports from one key would slow metering for all.
/// </summary>
internal sealed class SpendRateLimiter : IDisposable
{
    public const int PerMinute = 60;

    private readonly PartitionedRateLimiter<string> _limiter = PartitionedRateLimiter.Create<string, string>(key =>
        RateLimitPartition.GetSlidingWindowLimiter(key, _ => ClientRateLimiter.PerMinute(PerMinute)));

    /// <summary>True when the caller may go ahead; otherwise how long to wait (at most the window).</summary>
    public bool TryAcquire(SpendCaller caller, out TimeSpan retryAfter) =>
        ClientRateLimiter.TryAcquire(_limiter, caller.Client ?? "\0admin", out retryAfter);

    public void Dispose() => _limiter.Dispose();
}
