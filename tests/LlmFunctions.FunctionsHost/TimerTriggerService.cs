using System.Collections.Concurrent;
using LlmFunctions.FunctionsHost.Rpc;

namespace LlmFunctions.FunctionsHost;

/// <summary>
/// Runs timer functions on their schedules and on demand (the admin endpoint). One invocation of a function at a
/// time, as the host's timer is a singleton: a run that is due while another is going waits for it.
/// </summary>
internal sealed partial class TimerTriggerService(
    LoadedApp app, FunctionInvoker invoker, TimeProvider time, ILogger<TimerTriggerService> logger) : BackgroundService
{
    // Task.Delay takes at most about 49 days; a yearly schedule waits in steps.
    private static readonly TimeSpan LongestWait = TimeSpan.FromDays(1);

    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new();
    private readonly ConcurrentDictionary<string, DateTimeOffset> _lastRuns = new();
    private readonly CancellationTokenSource _stopping = new();

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

    /// <summary>Starts an invocation and returns (the admin endpoint's 202); its outcome goes to the log.</summary>
    public void Trigger(TimerFunction function) => _ = RunLoggedAsync(function);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await base.StopAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _stopping.Dispose();
        base.Dispose();
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
            return; // the start failed or was stopped; the emulator reports it
        }

        await Task.WhenAll(loaded.Functions.Timers.Select(t => RunScheduleAsync(t, stoppingToken)));
    }

    private async Task RunScheduleAsync(TimerFunction function, CancellationToken stoppingToken)
    {
        if (function.RunOnStartup)
        {
            await RunLoggedAsync(function);
        }

        var due = function.Next(time.GetUtcNow());
        while (!stoppingToken.IsCancellationRequested)
        {
            Log.Scheduled(logger, function.Name, due);
            try
            {
                for (var now = time.GetUtcNow(); now < due; now = time.GetUtcNow())
                {
                    await Task.Delay(Min(due - now, LongestWait), time, stoppingToken);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await RunLoggedAsync(function);

            // From the occurrence that fired, not from now: a wait that ends a hair early must not fire it twice.
            var after = time.GetUtcNow();
            due = function.Next(after > due ? after : due);
        }
    }

    private async Task RunLoggedAsync(TimerFunction function)
    {
        try
        {
            await InvokeAsync(function, _stopping.Token);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !_stopping.IsCancellationRequested)
        {
            Log.InvocationFailed(logger, function.Name, ex.Message);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static partial class Log
    {
        [LoggerMessage(EventId = 30, Level = LogLevel.Information, Message = "Executing 'Functions.{Function}' (Reason='Timer fired or admin request').")]
        public static partial void Executing(ILogger logger, string function);

        [LoggerMessage(EventId = 31, Level = LogLevel.Information, Message = "Executed 'Functions.{Function}' ({Outcome}, Duration={DurationMs:F0}ms){Error}")]
        public static partial void Executed(ILogger logger, string function, string outcome, double durationMs, string error);

        [LoggerMessage(EventId = 33, Level = LogLevel.Debug, Message = "'Functions.{Function}' is next due at {Due:O}.")]
        public static partial void Scheduled(ILogger logger, string function, DateTimeOffset due);

        [LoggerMessage(EventId = 32, Level = LogLevel.Error, Message = "'Functions.{Function}' could not be invoked: {Reason}")]
        public static partial void InvocationFailed(ILogger logger, string function, string reason);
    }
}
