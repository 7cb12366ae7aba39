using System.Collections.Concurrent;

namespace LlmFunctions.Core.Keys;

/// <summary>
/// A virtual key's <c>rpm</c> and <c>tpm</c> on this instance: a sliding minute in six 10-second segments per key,
/// counting requests and tokens. A call is admitted with its tokens estimated (prompt and <c>max_tokens</c>) and settled
/// to its usage when it ends, so a call that used fewer gives the difference back and one that used more takes it.
/// Per instance, as the settings clients' limit is: N instances let a key reach N times its limits (SECURITY.md).
/// </summary>
internal sealed class KeyLimiter(TimeProvider time)
{
    private const int Segments = 6;
    private static readonly long SegmentTicks = TimeSpan.FromSeconds(10).Ticks;

    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);

    /// <summary>A call counted in a key's window, to settle to its usage.</summary>
    public sealed class Lease(Window window, long segment, long estimated)
    {
        private int _settled;

        public void Settle(long usedTokens)
        {
            if (Interlocked.Exchange(ref _settled, 1) == 0)
            {
                window.Adjust(segment, usedTokens - estimated);
            }
        }
    }

    /// <summary>Admits a call of <paramref name="estimatedTokens"/> under the key's limits; else how long until it would fit.</summary>
    public (Lease? Lease, TimeSpan RetryAfter, string? Limit) TryAdmit(VirtualKey key, long estimatedTokens)
    {
        if (key.Rpm is null && key.Tpm is null)
        {
            return (null, TimeSpan.Zero, null);
        }

        var window = _windows.GetOrAdd(key.Id, _ => new Window());
        return window.TryAdmit(time.GetUtcNow().UtcTicks, key.Rpm, key.Tpm, estimatedTokens);
    }

    /// <summary>One key's last minute, segment by segment (a ring indexed by segment number).</summary>
    public sealed class Window
    {
        private readonly long[] _segment = new long[Segments];
        private readonly long[] _requests = new long[Segments];
        private readonly long[] _tokens = new long[Segments];
        private readonly Lock _lock = new();

        public (Lease? Lease, TimeSpan RetryAfter, string? Limit) TryAdmit(long nowTicks, int? rpm, long? tpm, long estimated)
        {
            var current = nowTicks / SegmentTicks;
            lock (_lock)
            {
                Roll(current);
                var requests = _requests.Sum();
                var tokens = _tokens.Sum();
                if (rpm is { } r && requests + 1 > r)
                {
                    return (null, Wait(current, nowTicks, _requests, requests + 1 - r), "rpm");
                }

                if (tpm is { } t && tokens + estimated > t)
                {
                    return (null, Wait(current, nowTicks, _tokens, tokens + estimated - t), "tpm");
                }

                var slot = (int)(current % Segments);
                _requests[slot]++;
                _tokens[slot] += estimated;
                return (new Lease(this, current, estimated), TimeSpan.Zero, null);
            }
        }

        public void Adjust(long segment, long tokens)
        {
            lock (_lock)
            {
                var slot = (int)(segment % Segments);
                if (_segment[slot] == segment)
                {
                    _tokens[slot] += tokens; // may go below zero for a call that used less than its estimate
                }
            }
        }

        /// <summary>Gives each slot the segment it holds in the minute ending with segment <paramref name="current"/>, cleared if new.</summary>
        private void Roll(long current)
        {
            for (var slot = 0; slot < Segments; slot++)
            {
                var segment = current - ((((current - slot) % Segments) + Segments) % Segments);
                if (_segment[slot] != segment)
                {
                    (_segment[slot], _requests[slot], _tokens[slot]) = (segment, 0, 0);
                }
            }
        }

        /// <summary>How long until the oldest segments leaving the window free <paramref name="excess"/> of <paramref name="counts"/>.</summary>
        private TimeSpan Wait(long current, long nowTicks, long[] counts, long excess)
        {
            long freed = 0;
            for (var age = Segments - 1; age >= 0; age--)
            {
                var segment = current - age;
                var slot = (int)(segment % Segments);
                freed += _segment[slot] == segment ? counts[slot] : 0;
                if (freed >= excess)
                {
                    return TimeSpan.FromTicks(((segment + Segments) * SegmentTicks) - nowTicks);
                }
            }

            return TimeSpan.FromMinutes(1); // more than a minute's worth: at least a whole minute
        }
    }
}
