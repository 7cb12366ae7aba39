using System.Collections.Concurrent;
using LlmFunctions.FunctionsHost.Rpc;

namespace LlmFunctions.FunctionsHost;

/// <summary>
/// Runs timer functions on their schedules and on demand (the admin endpoint). One invocation of a function at a
/// time, as the host's timer is a singleton: a run that is due while another is going waits for it.
/// </summary>
internal sealed partial class TimerTriggerService(
    LoadedApp app, FunctionInvoker invoker, EmulatorOptions options, TimeProvider time, ILogger<TimerTriggerService> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new();
    private readonly ConcurrentDictionary<string, DateTimeOffset> _lastRuns = new();

    /// <summary>Invokes a timer function now and waits for it; false when it failed.</summary>
    public async Task<bool> InvokeAsync(TimerFunction function, CancellationToken cancellationToken)
    {
        var gate = _gates.GetOrAdd(function.Name, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            Log.Executing(logger, function.Name);
            var started = time.GetUtcNow();
            var response = await invoker.InvokeTimerAsync(function, _lastRuns.TryGetValue(function.Name, out var last) ? last : null, false, cancellationToken);
            _lastRuns[function.Name] = started;
            var ok = response.Result?.Status == StatusResult.Types.Status.Success;
            Log.Executed(logger, function.Name, ok ? "Succeeded" : "Failed", (time.GetUtcNow() - started).TotalMilliseconds,
                response.Result?.Exception?.Message is { } error ? " " + error : "");
            return ok;
        }
        finally
        {
            gate.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        (Uri, FunctionIndex Functions) loaded;
        try
        {
            loaded = await app.Loaded.WaitAsync(stoppingToken);
        }
        catch (Exception)
        {
            return;
        }

        if (options.RunTimers)
        {
            await Task.WhenAll(loaded.Functions.Timers.Select(t => RunScheduleAsync(t, stoppingToken)));
        }
    }

    private async Task RunScheduleAsync(TimerFunction function, CancellationToken stoppingToken)
    {
        try
        {
            if (function.RunOnStartup)
            {
                await InvokeAsync(function, stoppingToken);
            }

            while (!stoppingToken.IsCancellationRequested)
            {
                var now = time.GetUtcNow();
                var next = new DateTimeOffset(function.Schedule.GetNextOccurrence(now.UtcDateTime), TimeSpan.Zero);
                await Task.Delay(next - now, time, stoppingToken);
                await InvokeAsync(function, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (IOException ex)
        {
            Log.Stopped(logger, function.Name, ex.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 30, Level = LogLevel.Information, Message = "Executing 'Functions.{Function}' (Reason='Timer fired or admin request').")]
        public static partial void Executing(ILogger logger, string function);

        [LoggerMessage(EventId = 31, Level = LogLevel.Information, Message = "Executed 'Functions.{Function}' ({Outcome}, Duration={DurationMs:F0}ms){Error}")]
        public static partial void Executed(ILogger logger, string function, string outcome, double durationMs, string error);

        [LoggerMessage(EventId = 32, Level = LogLevel.Warning, Message = "The timer of {Function} stopped: {Reason}")]
        public static partial void Stopped(ILogger logger, string function, string reason);
    }
}
