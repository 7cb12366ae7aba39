namespace LlmFunctions.FunctionsHost;

/// <summary>The worker's functions and HTTP address once the handshake is done; triggers wait for it.</summary>
internal sealed class LoadedApp
{
    private readonly TaskCompletionSource<(Uri HttpUri, FunctionIndex Functions)> _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _closed;

    public Task<(Uri HttpUri, FunctionIndex Functions)> Loaded => _loaded.Task;

    /// <summary>The loaded app, or null while the worker starts or stops (the host answers 503 then).</summary>
    public (Uri HttpUri, FunctionIndex Functions)? Current => !_closed && _loaded.Task.IsCompletedSuccessfully ? _loaded.Task.Result : null;

    /// <summary>Takes no more calls: the host is stopping.</summary>
    public void Close() => _closed = true;

    public void Set(Uri httpUri, FunctionIndex functions) => _loaded.TrySetResult((httpUri, functions));

    public void Fail(Exception error) => _loaded.TrySetException(error);
}
