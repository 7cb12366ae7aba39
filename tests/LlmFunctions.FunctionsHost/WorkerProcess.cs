using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace LlmFunctions.FunctionsHost;

/// <summary>
/// The worker process, started as the host starts it: the executable and assembly from <c>worker.config.json</c>,
/// the host's command-line arguments (new and old spellings), and an environment of the app settings plus the
/// worker and application directories. Its console output goes to the log; it gets its own temporary HOME
/// (ASP.NET Core writes data-protection keys there). The worker does not exit when its gRPC stream ends, so this
/// process kills it when it exits itself.
/// </summary>
internal sealed partial class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task<int> _exit;
    private readonly string _home;
    private readonly ILogger _logger;
    private readonly EventHandler _killOnExit;

    private WorkerProcess(Process process, string home, ILogger logger)
    {
        _process = process;
        _home = home;
        _logger = logger;

        // WaitForExitAsync also waits for the redirected output to end, so no last line of a crash is lost.
        _exit = process.WaitForExitAsync().ContinueWith(_ => process.ExitCode, CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        _killOnExit = (_, _) => Kill();
        AppDomain.CurrentDomain.ProcessExit += _killOnExit;
    }

    /// <summary>Completes with the exit code when the worker has exited and its output has been read.</summary>
    public Task<int> Exited => _exit;

    public bool HasExited => _exit.IsCompleted;

    public int? ExitCode => _exit.IsCompleted ? _exit.Result : null;

    public static WorkerProcess Start(EmulatorOptions options, Uri rpcUri, string workerId, ILoggerFactory loggers)
    {
        var home = Directory.CreateTempSubdirectory("llmf-worker-home-").FullName;
        var logger = loggers.CreateLogger("Worker.Console");
        try
        {
            var process = new Process { StartInfo = StartInfo(options, rpcUri, workerId, home) };
            process.OutputDataReceived += (_, e) => Write(logger, LogLevel.Information, e.Data);
            process.ErrorDataReceived += (_, e) => Write(logger, LogLevel.Error, e.Data);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            Log.Started(logger, process.Id, process.StartInfo.ArgumentList[0]);
            return new WorkerProcess(process, home, logger);
        }
        catch
        {
            TryDelete(home);
            throw;
        }
    }

    /// <summary>SIGTERM: the worker's own graceful stop (its console lifetime).</summary>
    public void Terminate()
    {
        if (!HasExited && SysKill(_process.Id, 15) != 0)
        {
            Log.SignalFailed(_logger, Marshal.GetLastPInvokeError());
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        await ((Task)_exit).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        AppDomain.CurrentDomain.ProcessExit -= _killOnExit;
        _process.Dispose();
        TryDelete(_home);
    }

    private static ProcessStartInfo StartInfo(EmulatorOptions options, Uri rpcUri, string workerId, string home)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(options.AppDirectory, "worker.config.json")))!["description"]!;
        var psi = new ProcessStartInfo((string?)config["defaultExecutablePath"] ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = options.AppDirectory,
        };
        var requestId = Guid.NewGuid().ToString();
        var port = rpcUri.Port.ToString(CultureInfo.InvariantCulture);
        string[] args =
        [
            Path.Combine(options.AppDirectory, (string?)config["defaultWorkerPath"]
                ?? throw new InvalidOperationException("worker.config.json names no defaultWorkerPath.")),
            "--host", rpcUri.Host, "--port", port, "--workerId", workerId, "--requestId", requestId,
            "--grpcMaxMessageLength", "2147483647",
            "--functions-uri", rpcUri.ToString(), "--functions-worker-id", workerId, "--functions-request-id", requestId,
            "--functions-grpc-max-message-length", "2147483647",
        ];
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        if (!options.InheritEnvironment)
        {
            psi.Environment.Clear();
            foreach (var name in new[] { "PATH", "DOTNET_ROOT", "TMPDIR", "LANG" })
            {
                if (Environment.GetEnvironmentVariable(name) is { } value)
                {
                    psi.Environment[name] = value;
                }
            }
        }

        foreach (var (key, value) in options.AppSettings)
        {
            psi.Environment[key] = value;
        }

        psi.Environment["HOME"] = home;
        psi.Environment["FUNCTIONS_WORKER_RUNTIME"] = "dotnet-isolated";
        psi.Environment["FUNCTIONS_WORKER_DIRECTORY"] = options.AppDirectory;
        psi.Environment["FUNCTIONS_APPLICATION_DIRECTORY"] = options.AppDirectory;
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment.TryAdd("AZURE_FUNCTIONS_ENVIRONMENT", "Production");
        return psi;
    }

    /// <summary>SIGKILL, the whole process tree: a crash, or an instance taken away.</summary>
    public void Kill()
    {
        try
        {
            if (!HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Exited meanwhile.
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static void Write(ILogger logger, LogLevel level, string? line)
    {
        if (!string.IsNullOrEmpty(line))
        {
            Log.Output(logger, level, line);
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);

    private static partial class Log
    {
        [LoggerMessage(EventId = 40, Message = "{Line}")]
        public static partial void Output(ILogger logger, LogLevel level, string line);

        [LoggerMessage(EventId = 41, Level = LogLevel.Information, Message = "Started worker process {Pid}: dotnet {Worker}")]
        public static partial void Started(ILogger logger, int pid, string worker);

        [LoggerMessage(EventId = 42, Level = LogLevel.Warning, Message = "SIGTERM to the worker failed (errno {Errno}).")]
        public static partial void SignalFailed(ILogger logger, int errno);
    }
}
