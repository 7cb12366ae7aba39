namespace LlmFunctions.Tests.Infrastructure;

/// <summary>
/// System time plus an offset the test moves forward, shared by every host of a test: "a later timer run"
/// without waiting, while hosts still see real elapsed time (timeouts, Task.Delay) between moves.
/// </summary>
internal sealed class TestClock : TimeProvider
{
    private long _offsetTicks;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
}
