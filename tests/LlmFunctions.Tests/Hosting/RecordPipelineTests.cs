using LlmFunctions.Core.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Testing;

namespace LlmFunctions.Tests.Hosting;

/// <summary>
/// The record path's stages under <see cref="RecordPipeline"/>: the order is the pipeline's, and it does for them what
/// the host does for a hosted service (a review found that, as one hosted service, it hid a failed stage from the host).
/// </summary>
public sealed class RecordPipelineTests
{
    [Fact]
    public async Task Stages_StartInOrder_AndStopTheOtherWay_EvenWhenOneFailsToStop()
    {
        var events = new List<string>();
        var stages = new[] { new Stage("tail", events), new Stage("replayer", events), new Stage("writer", events, failsToStop: true), new Stage("pump", events) };
        var logger = new FakeLogger<RecordPipeline>();
        var pipeline = new RecordPipeline(stages, new Lifetime(), logger);

        await pipeline.StartAsync(CancellationToken.None);
        await pipeline.StopAsync(CancellationToken.None);

        Assert.Equal(["start tail", "start replayer", "start writer", "start pump", "stop pump", "stop writer", "stop replayer", "stop tail"], events);
        Assert.Contains(logger.Collector.GetSnapshot(), r => r.Id.Id == 9102 && r.Message.Contains("Stage", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AStageThatFails_StopsTheApp_AndSaysWhich()
    {
        var lifetime = new Lifetime();
        var logger = new FakeLogger<RecordPipeline>();
        var pipeline = new RecordPipeline([new Stage("tail", []), new Failing()], lifetime, logger);

        await pipeline.StartAsync(CancellationToken.None);
        await lifetime.Stopped.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var failed = Assert.Single(logger.Collector.GetSnapshot(), r => r.Id.Id == 9101);
        Assert.Contains(nameof(Failing), failed.Message, StringComparison.Ordinal);
        Assert.IsType<IOException>(failed.Exception);
        await pipeline.StopAsync(CancellationToken.None);
    }

    private sealed class Stage(string name, List<string> events, bool failsToStop = false) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            events.Add("start " + name);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            events.Add("stop " + name);
            return failsToStop ? Task.FromException(new IOException("disk gone")) : Task.CompletedTask;
        }
    }

    /// <summary>A background stage whose loop dies after it started (a journal that cannot be read).</summary>
    private sealed class Failing : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            await Task.Yield();
            throw new IOException("the journal cannot be read");
        }
    }

    private sealed class Lifetime : IHostApplicationLifetime
    {
        public TaskCompletionSource Stopped { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => Stopped.TrySetResult();
    }
}
