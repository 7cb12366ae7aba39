using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NCrontab;

namespace LlmFunctions.Core.Hosting;

/// <summary>Runs the budget timer's handler on <c>Budgets__Schedule</c> in a long-lived host (the Functions app has a timer trigger).</summary>
internal sealed partial class BudgetRollupService(
    LlmFunctionsHandlers handlers, IOptions<BudgetsOptions> options, TimeProvider time, ILogger<BudgetRollupService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var schedule = CrontabSchedule.Parse(options.Value.Schedule, new CrontabSchedule.ParseOptions { IncludingSeconds = true });
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow().UtcDateTime;
            var next = schedule.GetNextOccurrence(now);
            try
            {
                await Task.Delay(next - now, time, stoppingToken).ConfigureAwait(false);
                await handlers.BudgetRollupAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogFailed(logger, ex);
            }
        }
    }

    [LoggerMessage(EventId = 7101, Level = LogLevel.Warning, Message = "Budget rollup failed; the next scheduled run tries again.")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
