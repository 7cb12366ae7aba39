namespace LlmFunctions.Core.Records;

/// <summary>
/// The storage-down rule shared by the group-commit writer and the spool replayer: after one batch failed all its
/// attempts, later batches go straight to the spool for <see cref="Duration"/>, or until a replay succeeds.
/// </summary>
/// <remarks>
/// Not Polly's circuit breaker: that one opens on a failure ratio over a sampling window of at least two outcomes, so
/// under load the successes just before an outage keep it closed and several batches each wait out two storage
/// timeouts before it opens (the Azurite outage test allows one). Here the first batch that fails every attempt is
/// the signal. The retry itself is Polly's (<see cref="GroupCommitWriter"/>).
/// </remarks>
internal sealed class StorageOutage(TimeProvider time)
{
    /// <summary>How long after a failed batch later batches go straight to the spool.</summary>
    public static readonly TimeSpan Duration = TimeSpan.FromSeconds(5);

    private long _downUntilTicks;

    public bool IsDown => time.GetUtcNow().UtcTicks < Interlocked.Read(ref _downUntilTicks);

    /// <summary>A batch failed all its attempts.</summary>
    public void Failed() => Interlocked.Exchange(ref _downUntilTicks, (time.GetUtcNow() + Duration).UtcTicks);

    /// <summary>Storage took a write (a replayed batch): new batches go to the table again.</summary>
    public void Recovered() => Interlocked.Exchange(ref _downUntilTicks, 0);
}
