using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Security;

/// <summary>
/// The optional per-client limit (<c>Clients__&lt;name&gt;__RequestsPerMinute</c>), with the rate limiters ASP.NET
/// Core's rate limiting is built on: a sliding one-minute window per client, partitioned by client name. Applied
/// in the handler rather than as middleware so the Functions host and the local host enforce it the same way.
/// Per instance: with N instances a client can reach N times its limit (documented in SECURITY.md).
/// </summary>
internal sealed class ClientRateLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<string>? _limiter;

    public ClientRateLimiter(IOptions<Dictionary<string, ClientOptions>> clients)
    {
        var limits = clients.Value.Where(c => c.Value.RequestsPerMinute > 0).ToDictionary(c => c.Key, c => c.Value.RequestsPerMinute, StringComparer.Ordinal);
        if (limits.Count == 0)
        {
            return;
        }

        _limiter = PartitionedRateLimiter.Create<string, string>(client =>
            limits.TryGetValue(client, out var perMinute)
                ? RateLimitPartition.GetSlidingWindowLimiter(client, _ => PerMinute(perMinute))
                : RateLimitPartition.GetNoLimiter(client));
    }

    /// <summary>A sliding one-minute window of <paramref name="permits"/> in six segments, never queueing.</summary>
    internal static SlidingWindowRateLimiterOptions PerMinute(int permits) => new()
    {
        PermitLimit = permits,
        Window = TimeSpan.FromMinutes(1),
        SegmentsPerWindow = 6,
        QueueLimit = 0,
        AutoReplenishment = true,
    };

    /// <summary>True when <paramref name="key"/> may go ahead; otherwise how long to wait.</summary>
    internal static bool TryAcquire(PartitionedRateLimiter<string> limiter, string key, out TimeSpan retryAfter)
    {
        using var lease = limiter.AttemptAcquire(key);
        retryAfter = lease.IsAcquired ? TimeSpan.Zero
            : lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(10);
        return lease.IsAcquired;
    }

    /// <summary>True when the call may go ahead; otherwise how long to wait.</summary>
    public bool TryAcquire(string client, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        return _limiter is null || TryAcquire(_limiter, client, out retryAfter);
    }

    public void Dispose() => _limiter?.Dispose();
}
