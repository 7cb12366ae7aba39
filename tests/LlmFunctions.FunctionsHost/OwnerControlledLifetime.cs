namespace LlmFunctions.FunctionsHost;

/// <summary>A host lifetime that starts at once and never stops the emulator by itself (no SIGTERM/Ctrl+C hook):
/// the standalone program and the test fixture stop it, after the worker has drained.</summary>
internal sealed class OwnerControlledLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
