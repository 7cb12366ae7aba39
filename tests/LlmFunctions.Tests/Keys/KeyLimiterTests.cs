using LlmFunctions.Core.Keys;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Keys;

public sealed class KeyLimiterTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-12-07T10:00:05Z");

    private static VirtualKey Key(int? rpm = null, long? tpm = null) =>
        ClientAuthenticatorTests.Key("limited", "sk-limited", Start) with { Rpm = rpm, Tpm = tpm };

    [Fact]
    public void Rpm_AdmitsThatManyAMinute_ThenSaysWhenTheOldestLeaves()
    {
        var time = new FakeTimeProvider(Start);
        var limiter = new KeyLimiter(time);
        var key = Key(rpm: 3);
        Assert.NotNull(limiter.TryAdmit(key, 0).Lease);
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.NotNull(limiter.TryAdmit(key, 0).Lease);
        Assert.NotNull(limiter.TryAdmit(key, 0).Lease);
        var (lease, retryAfter, limit) = limiter.TryAdmit(key, 0);
        Assert.Null(lease);
        Assert.Equal("rpm", limit);
        // The first call was counted in the segment 10:00:00–10:00:10, which leaves the six-segment minute at 10:01:00: 35 s from 10:00:25.
        Assert.Equal(TimeSpan.FromSeconds(35), retryAfter);
        time.Advance(retryAfter);
        Assert.NotNull(limiter.TryAdmit(key, 0).Lease);
        Assert.Null(limiter.TryAdmit(key, 0).Lease);
    }

    [Fact]
    public void Tpm_CountsTheEstimate_ThenTheUsage_WhichGivesBackWhatWasNotUsed()
    {
        var time = new FakeTimeProvider(Start);
        var limiter = new KeyLimiter(time);
        var key = Key(tpm: 1_000);
        var first = limiter.TryAdmit(key, 800).Lease!;
        Assert.Equal("tpm", limiter.TryAdmit(key, 300).Limit); // 800 + 300 > 1,000
        first.Settle(100); // it used 100: 700 come back
        Assert.NotNull(limiter.TryAdmit(key, 300).Lease);
        first.Settle(5_000); // settled once: a second settle changes nothing
        Assert.NotNull(limiter.TryAdmit(key, 500).Lease); // 100 + 300 + 500
        var over = limiter.TryAdmit(key, 200);
        Assert.Equal("tpm", over.Limit);
        Assert.InRange(over.RetryAfter, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
    }

    [Fact]
    public void AKeyWithoutLimits_IsNotCounted() => Assert.Equal((null, TimeSpan.Zero, null), new KeyLimiter(new FakeTimeProvider(Start)).TryAdmit(Key(), 1_000_000));
}
