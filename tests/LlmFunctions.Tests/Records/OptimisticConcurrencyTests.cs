using Azure;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Records;

/// <summary>
/// The one strategy of the optimistic-concurrency loops (the fold, the reads of folded slots, the budget ledger) on its
/// own: an attempt whose result lost the race runs again, at most so many times, after its pause on the given clock.
/// </summary>
public sealed class OptimisticConcurrencyTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task ALostRace_RunsAgain_UpToTheBound_ThenTheLastResultIsTheCallers()
    {
        var pauses = new List<int>();
        var losses = new List<int>();
        var pipeline = OptimisticConcurrency.Retry<string?>(new FakeTimeProvider(Noon), attempts: 4, lost: r => r is null,
            pause: n => { pauses.Add(n); return TimeSpan.Zero; }, onLost: losses.Add);
        var runs = 0;

        var result = await pipeline.ExecuteAsync(_ => { runs++; return ValueTask.FromResult<string?>(null); }, CancellationToken.None);

        Assert.Null(result);
        Assert.Equal(4, runs);
        Assert.Equal([0, 1, 2], pauses);
        Assert.Equal([0, 1, 2], losses);
    }

    [Fact]
    public async Task AResultThatDidNotLose_EndsIt_AtOnceOrAfterTheLosses()
    {
        var pipeline = OptimisticConcurrency.Retry<string?>(new FakeTimeProvider(Noon), attempts: 10, lost: r => r is null, pause: _ => TimeSpan.Zero);

        var runs = 0;
        Assert.Equal("won", await pipeline.ExecuteAsync(_ => { runs++; return ValueTask.FromResult<string?>("won"); }, CancellationToken.None));
        Assert.Equal(1, runs);

        runs = 0;
        Assert.Equal("won", await pipeline.ExecuteAsync(_ => ValueTask.FromResult(++runs < 3 ? null : "won"), CancellationToken.None));
        Assert.Equal(3, runs);
    }

    [Fact]
    public async Task AnException_IsNotRetried_NotEvenAConflictThatTheAttemptDidNotTurnIntoALoss()
    {
        var pipeline = OptimisticConcurrency.Retry<string?>(new FakeTimeProvider(Noon), attempts: 10, lost: r => r is null, pause: _ => TimeSpan.Zero);

        foreach (var failure in new Exception[] { new RequestFailedException(412, "stale ETag"), new InvalidOperationException("bug") })
        {
            var runs = 0;
            var thrown = await Assert.ThrowsAnyAsync<Exception>(
                () => pipeline.ExecuteAsync<string?>(_ => { runs++; throw failure; }, CancellationToken.None).AsTask());
            Assert.Same(failure, thrown);
            Assert.Equal(1, runs);
        }
    }

    [Fact]
    public async Task ThePause_RunsOnTheGivenClock()
    {
        var time = new FakeTimeProvider(Noon);
        // An hour: in the test's time, only the fake clock can end it.
        var pipeline = OptimisticConcurrency.Retry<string?>(time, attempts: 3, lost: r => r is null, pause: _ => TimeSpan.FromHours(1));
        var ran = new SemaphoreSlim(0);
        var runs = 0;

        var execution = pipeline.ExecuteAsync(_ =>
        {
            var run = Interlocked.Increment(ref runs);
            ran.Release();
            return ValueTask.FromResult(run < 2 ? null : "won");
        }, CancellationToken.None).AsTask();

        Assert.True(await ran.WaitAsync(TimeSpan.FromSeconds(5)));
        time.Advance(TimeSpan.FromHours(1) - TimeSpan.FromMilliseconds(1));
        Assert.False(await ran.WaitAsync(TimeSpan.FromMilliseconds(200))); // the fake clock has not reached the pause's end
        Assert.Equal(1, Volatile.Read(ref runs));

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal("won", await execution.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(2, runs);
    }

    [Fact]
    public async Task NoPause_NeedsNoClockToMove()
    {
        var pipeline = OptimisticConcurrency.Retry<string?>(new FakeTimeProvider(Noon), attempts: 5, lost: r => r is null, pause: _ => TimeSpan.Zero);
        var runs = 0;

        var result = await pipeline.ExecuteAsync(_ => ValueTask.FromResult(++runs < 5 ? null : "won"), CancellationToken.None)
            .AsTask().WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(("won", 5), (result, runs));
    }

    [Fact]
    public void AJitteredPause_StaysInItsRange()
    {
        var pauses = Enumerable.Range(0, 1000).Select(_ => OptimisticConcurrency.Jittered(5, 50).TotalMilliseconds).ToList();

        Assert.All(pauses, p => Assert.InRange(p, 5, 49));
        Assert.True(pauses.Distinct().Count() > 10, "the pauses do not vary");
    }
}
