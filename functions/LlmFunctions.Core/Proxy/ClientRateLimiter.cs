using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Proxy;

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
                ? RateLimitPartition.GetSlidingWindowLimiter(client, _ => new SlidingWindowRateLimiterOptions
                {
                    PermitLimit = perMinute,
                    Window = TimeSpan.FromMinutes(1),
                    SegmentsPerWindow = 6,
                    QueueLimit = 0,
                    AutoReplenishment = true,
                })
                : RateLimitPartition.GetNoLimiter(client));
    }

    /// <summary>True when the call may go ahead; otherwise how long to wait.</summary>
    public bool TryAcquire(string client, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (_limiter is null)
        {
            return true;
        }

        using var lease = _limiter.AttemptAcquire(client);
        if (lease.IsAcquired)
        {
            return true;
        }

        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(10);
        return false;
    }

    public void Dispose() => _limiter?.Dispose();
}
