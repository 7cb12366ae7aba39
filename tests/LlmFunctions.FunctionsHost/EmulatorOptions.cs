namespace LlmFunctions.FunctionsHost;

/// <summary>What the emulator runs and how: the built Functions app and its app settings.</summary>
public sealed record EmulatorOptions
{
    /// <summary>The worker's output folder (holds <c>worker.config.json</c>, <c>functions.metadata</c>, <c>host.json</c>).</summary>
    public required string AppDirectory { get; init; }

    /// <summary>App settings as the host passes them to the worker: environment variables (<c>Upstream__BaseUrl</c>).</summary>
    public IReadOnlyDictionary<string, string> AppSettings { get; init; } = new Dictionary<string, string>();

    /// <summary>Where clients call the functions; port 0 picks a free one.</summary>
    public Uri Url { get; init; } = new("http://127.0.0.1:7071");

    /// <summary>
    /// Whether the worker also inherits this process's environment. The standalone emulator does, as the real
    /// host's worker does; tests do not, so the runner's variables never reach the app.
    /// </summary>
    public bool InheritEnvironment { get; init; }

    /// <summary>How long the worker may take from launch to its functions loaded.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The grace period sent in <c>WorkerTerminate</c>; after it the worker gets SIGTERM, then SIGKILL.</summary>
    public TimeSpan ShutdownGracePeriod { get; init; } = TimeSpan.FromSeconds(20);
}
