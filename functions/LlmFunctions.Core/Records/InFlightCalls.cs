namespace LlmFunctions.Core.Records;

/// <summary>Counts proxy calls in progress, so shutdown can wait for their records.</summary>
internal sealed class InFlightCalls
{
    private readonly Lock _lock = new();
    private int _count;
    private TaskCompletionSource _zero = NewCompleted();

    /// <summary>Calls in progress, including those waiting for their record.</summary>
    public int Count => Volatile.Read(ref _count);

    public void Enter()
    {
        lock (_lock)
        {
            if (_count++ == 0)
            {
                _zero = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    public void Exit()
    {
        lock (_lock)
        {
            if (--_count == 0)
            {
                _zero.TrySetResult();
            }
        }
    }

    public Task WaitForZeroAsync(CancellationToken cancellationToken)
    {
        Task zero;
        lock (_lock)
        {
            zero = _zero.Task;
        }

        return zero.WaitAsync(cancellationToken);
    }

    private static TaskCompletionSource NewCompleted()
    {
        var tcs = new TaskCompletionSource();
        tcs.SetResult();
        return tcs;
    }
}
