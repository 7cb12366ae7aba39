namespace LlmFunctions.Tests.Infrastructure;

/// <summary>
/// System time plus an offset the test moves forward, shared by every host of a test: "a later timer run"
/// without waiting, while hosts still see real elapsed time (timeouts, Task.Delay) between moves.
/// </summary>
internal sealed class TestClock : TimeProvider
{
    private long _offsetTicks;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

    /// <summary>For tests about UTC days: moves to the next 12:00 UTC, far from midnight whatever the real time.</summary>
    public void AdvanceToNextNoonUtc()
    {
        var now = GetUtcNow();
        var noon = new DateTimeOffset(now.Year, now.Month, now.Day, 12, 0, 0, TimeSpan.Zero);
        Advance((noon > now ? noon : noon.AddDays(1)) - now);
    }

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
}
