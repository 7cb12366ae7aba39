using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Hosting;

namespace LlmFunctions.Core.Hosting;

/// <summary>
/// Starts and stops the record path's background stages in the order its invariants need, stated here rather than
/// left to the order services happen to be registered in. Start, from the far end in: the tail (it takes every
/// commit), the replayer, the group-commit writer, the journal pump (the way in, started once all it feeds runs).
/// Stop, the other way: the pump first (it closes the queue and hands on what it holds), then the writer (it writes
/// all of that), then the replayer (it converts what finished), then the tail (the last commits reach it before exit).
/// </summary>
internal sealed class RecordPipeline(TailSummaries tail, SpoolReplayer replayer, GroupCommitWriter writer, JournalPump pump) : IHostedService
{
    /// <summary>The stages in start order.</summary>
    public IReadOnlyList<IHostedService> Stages { get; } = [tail, replayer, writer, pump];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var stage in Stages)
        {
            await stage.StartAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        for (var i = Stages.Count - 1; i >= 0; i--)
        {
            await Stages[i].StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
