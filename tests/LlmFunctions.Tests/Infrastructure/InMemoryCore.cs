using LlmFunctions.Core;
using LlmFunctions.Core.Hosting;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>
/// Core's services as a host composes them, over <see cref="InMemoryTables"/> and a <see cref="FakeTimeProvider"/>:
/// one instance of the app without a web server. Several may share one <see cref="InMemoryTables"/>. Commits are
/// not paced (the interval and the fill delay are 0), so a record's write needs no clock move.
/// </summary>
internal sealed class InMemoryCore : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private readonly List<IHostedService> _started = [];
    private readonly string _spool = Path.Combine(Path.GetTempPath(), "llm-inmemory-" + Guid.NewGuid().ToString("N"));

    /// <param name="services">Changes to the app's services after it registered them (a stub upstream handler, say).</param>
    public InMemoryCore(InMemoryTables tables, FakeTimeProvider time, Dictionary<string, string?>? settings = null,
        Action<IServiceCollection>? services = null)
    {
        Tables = tables;
        Time = time;
        var values = new Dictionary<string, string?>
        {
            ["Upstream:BaseUrl"] = "http://127.0.0.1:9",
            ["Upstream:ApiKey"] = "sk-in-memory-test",
            ["Storage:ConnectionString"] = "UseDevelopmentStorage=true",
            ["Storage:SpoolDirectory"] = _spool,
            ["Storage:QueuedCommitDelayMs"] = "0",
            ["Storage:CommitIntervalMs"] = "0",
        };
        foreach (var (key, value) in settings ?? [])
        {
            values[key] = value; // a test's setting wins over the default
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();

        var collection = new ServiceCollection();
        collection.AddSingleton<IConfiguration>(configuration);
        collection.AddLogging(b => b.AddProvider(Logs.Provider));
        collection.AddSingleton<TimeProvider>(time);
        collection.AddSingleton<ITableService>(tables);
        collection.AddSingleton<IHostApplicationLifetime, Microsoft.Extensions.Hosting.Internal.ApplicationLifetime>(); // what a host brings
        collection.AddLlmFunctions(configuration);
        services?.Invoke(collection);
        _services = collection.BuildServiceProvider();
    }

    public InMemoryTables Tables { get; }

    public CapturedLogs Logs { get; } = new();

    public FakeTimeProvider Time { get; }

    public string SpoolDirectory => _spool;

    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    /// <summary>A stage of the record path (<see cref="RecordPipeline"/>).</summary>
    public T Hosted<T>() where T : IHostedService => Get<RecordPipeline>().Stages.OfType<T>().Single();

    /// <summary>Starts the record path's stages in the pipeline's order, as the host does (or those <paramref name="only"/>
    /// picks); disposing stops them the other way.</summary>
    public async Task StartAsync(Func<IHostedService, bool>? only = null)
    {
        foreach (var service in Get<RecordPipeline>().Stages)
        {
            if (only is null || only(service))
            {
                await service.StartAsync(CancellationToken.None);
                _started.Add(service);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        for (var i = _started.Count - 1; i >= 0; i--)
        {
            await _started[i].StopAsync(timeout.Token);
        }

        await _services.DisposeAsync();
        if (Directory.Exists(_spool))
        {
            Directory.Delete(_spool, recursive: true);
        }
    }

    /// <summary>A priced chat call's record.</summary>
    public static CallRecord Record(DateTimeOffset startedAt, string client = "alpha", string model = "gpt-4o-mini", long costNanoUsd = 1_000) => new()
    {
        CallId = Guid.NewGuid().ToString("N"),
        StartedAt = startedAt,
        Client = client,
        Model = model,
        Method = "POST",
        Endpoint = "/v1/chat/completions",
        StatusCode = 200,
        InputTokens = 10,
        OutputTokens = 5,
        CostNanoUsd = costNanoUsd,
        Priced = true,
        DurationMs = 12,
    };

    /// <summary>
    /// Writes <paramref name="count"/> records of a call at <paramref name="startedAt"/> while storage is down: the first
    /// waits out the writer's attempts on this clock and marks storage down, the others then go straight to the spool.
    /// </summary>
    public async Task SpoolThroughOutageAsync(int count, DateTimeOffset startedAt, long costNanoUsd = 1_000)
    {
        var writer = Get<RecordWriter>();
        await AdvanceUntilAsync(writer.WriteAsync(Record(startedAt, costNanoUsd: costNanoUsd)), TimeSpan.FromMilliseconds(50));
        await Task.WhenAll(Enumerable.Range(1, count - 1).Select(_ => writer.WriteAsync(Record(startedAt, costNanoUsd: costNanoUsd))));
    }

    /// <summary>Moves the clock in small steps until the task completes (a retry's delay, for example), at most a minute.</summary>
    public async Task AdvanceUntilAsync(Task task, TimeSpan step)
    {
        for (var moved = TimeSpan.Zero; !task.IsCompleted && moved < TimeSpan.FromMinutes(1); moved += step)
        {
            await Task.WhenAny(task, Task.Delay(20));
            if (!task.IsCompleted)
            {
                Time.Advance(step);
            }
        }

        await task;
    }
}
