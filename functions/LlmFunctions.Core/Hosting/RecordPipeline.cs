using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LlmFunctions.Core.Hosting;

/// <summary>
/// Starts and stops the record path's background stages in the order its invariants need, stated here rather than
/// left to the order services happen to be registered in. Start, from the far end in: the tail (it takes every
/// commit), the replayer, the group-commit writer, the journal pump (the way in, started once all it feeds runs).
/// Stop, the other way: the pump first (it closes the queue and hands on what it holds), then the writer (it writes
/// all of that), then the replayer (it converts what finished), then the tail (the last commits reach it before exit).
/// It does for its stages what the host does for a hosted service: a stage that fails stops the app (records would
/// queue behind it and calls wait for them), and a stage that fails to stop does not keep the later ones from stopping.
/// </summary>
internal sealed partial class RecordPipeline : IHostedService
{
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<RecordPipeline> _logger;
    private volatile bool _stopping;

    public RecordPipeline(TailSummaries tail, SpoolReplayer replayer, GroupCommitWriter writer, JournalPump pump, IHostApplicationLifetime lifetime,
        ILogger<RecordPipeline> logger)
        : this([tail, replayer, writer, pump], lifetime, logger)
    {
    }

    /// <summary>Any stages, in start order (tests).</summary>
    internal RecordPipeline(IReadOnlyList<IHostedService> stages, IHostApplicationLifetime lifetime, ILogger<RecordPipeline> logger)
    {
        Stages = stages;
        _lifetime = lifetime;
        _logger = logger;
    }

    /// <summary>The stages in start order.</summary>
    public IReadOnlyList<IHostedService> Stages { get; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var stage in Stages)
        {
            await stage.StartAsync(cancellationToken).ConfigureAwait(false);
            if (stage is BackgroundService { ExecuteTask: { } running })
            {
                _ = WatchAsync(stage.GetType().Name, running); // ends with the loop; never throws
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        for (var i = Stages.Count - 1; i >= 0; i--)
        {
            try
            {
                await Stages[i].StopAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LogStopFailed(_logger, ex, Stages[i].GetType().Name);
            }
        }
    }

    private async Task WatchAsync(string stage, Task running)
    {
        try
        {
            await running.ConfigureAwait(false);
        }
        catch (Exception ex) when (!_stopping)
        {
            LogStageFailed(_logger, ex, stage);
            _lifetime.StopApplication();
        }
        catch (Exception)
        {
            // Failed while stopping: StopAsync logs what its stop reports.
        }
    }

    [LoggerMessage(EventId = 9101, Level = LogLevel.Critical,
        Message = "The record path's {Stage} failed; the app stops, as for any failed background service.")]
    private static partial void LogStageFailed(ILogger logger, Exception exception, string stage);

    [LoggerMessage(EventId = 9102, Level = LogLevel.Error, Message = "The record path's {Stage} failed to stop; the stages after it stop still.")]
    private static partial void LogStopFailed(ILogger logger, Exception exception, string stage);
}
