using System.Net;
using System.Text.Json.Nodes;
using LlmFunctions.FunctionsHost.Rpc;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace LlmFunctions.FunctionsHost;

/// <summary>
/// A stand-in for the Azure Functions host that runs the real built worker: it serves the worker's gRPC stream,
/// loads its functions, routes HTTP calls to them through the ASP.NET Core integration, fires timers, and stops
/// the worker as the host does. What only the real host does (keys and auth levels, functionTimeout, the scale
/// controller, its own HTTP pipeline) is not emulated.
/// </summary>
public sealed partial class FunctionsHostEmulator : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly WorkerProcess _worker;
    private readonly EmulatorOptions _options;
    private readonly FunctionIndex _functions;
    private readonly ILogger _logger;
    private readonly Lock _stopLock = new();
    private Task? _stopping;

    private FunctionsHostEmulator(WebApplication app, WorkerProcess worker, EmulatorOptions options, FunctionIndex functions, Uri baseUrl)
    {
        _app = app;
        _worker = worker;
        _options = options;
        _functions = functions;
        _logger = app.Services.GetRequiredService<ILogger<FunctionsHostEmulator>>();
        BaseUrl = baseUrl;
    }

    /// <summary>Where clients call the functions.</summary>
    public Uri BaseUrl { get; }

    public IReadOnlyList<string> FunctionNames => _functions.Functions.Select(f => f.Name).ToList();

    public Task WorkerExited => _worker.Exited;

    /// <summary>The worker's exit code once it has exited.</summary>
    public int? WorkerExitCode => _worker.ExitCode;

    /// <summary>
    /// Starts the emulator, then the worker, and returns once the worker's functions are loaded:
    /// 1. the emulator's two endpoints (clients: HTTP/1.1; the worker's gRPC stream: HTTP/2 without TLS);
    /// 2. the worker process; 3. the handshake (<see cref="WorkerHandshake"/>). Any failure stops everything.
    /// </summary>
    public static async Task<FunctionsHostEmulator> StartAsync(
        EmulatorOptions options, Action<ILoggingBuilder>? logging = null, CancellationToken cancellationToken = default)
    {
        var routePrefix = ReadRoutePrefix(options.AppDirectory);
        var workerId = Guid.NewGuid().ToString();
        var endpoints = new Endpoints();
        var app = Build(options, workerId, endpoints, logging);
        var logger = app.Services.GetRequiredService<ILogger<FunctionsHostEmulator>>();
        var loaded = app.Services.GetRequiredService<LoadedApp>();
        WorkerProcess? worker = null;
        try
        {
            // 1
            await app.StartAsync(cancellationToken);
            var baseUrl = new Uri($"http://{options.Url.Host}:{endpoints.Public!.IPEndPoint!.Port}");

            // 2
            worker = WorkerProcess.Start(options, new Uri($"http://127.0.0.1:{endpoints.Rpc!.IPEndPoint!.Port}/"), workerId,
                app.Services.GetRequiredService<ILoggerFactory>());

            // 3
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.StartTimeout);
            var channel = app.Services.GetRequiredService<WorkerChannel>();
            if (await Task.WhenAny(channel.Connected, worker.Exited).WaitAsync(timeout.Token) != channel.Connected)
            {
                throw new InvalidOperationException($"The worker exited ({worker.ExitCode}) before it connected; its output is in the log.");
            }

            var (httpUri, functions) = await WorkerHandshake.RunAsync(channel, options.AppDirectory, routePrefix,
                new AppSettingsResolver(Settings(options)), timeout.Token).WaitAsync(timeout.Token);
            loaded.Set(httpUri, functions);
            Log.Ready(logger, functions.Functions.Count, baseUrl,
                string.Join(", ", functions.Http.Select(f => $"{f.Name}: [{string.Join(',', f.Methods ?? new HashSet<string> { "*" })}] /{f.Route}")));
            return new FunctionsHostEmulator(app, worker, options, functions, baseUrl);
        }
        catch (Exception ex)
        {
            loaded.Fail(ex);
            Log.StartFailed(logger, ex.Message);
            if (worker is not null)
            {
                await worker.DisposeAsync();
            }

            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
            throw;
        }
    }

    /// <summary>Invokes a timer function now, as <c>POST /admin/functions/{name}</c> does, and waits for it.</summary>
    public Task<bool> InvokeAsync(string functionName, CancellationToken cancellationToken = default) =>
        _functions.Find(functionName) is TimerFunction timer
            ? _app.Services.GetRequiredService<TimerTriggerService>().InvokeAsync(timer, cancellationToken)
            : throw new ArgumentException($"'{functionName}' is not a timer function of this app.", nameof(functionName));

    /// <summary>Kills the worker at once (SIGKILL), as a crash or a reclaimed instance does: nothing drains.</summary>
    public void KillWorker() => _worker.Kill();

    /// <summary>
    /// Stops as the host does: no new calls (503) and no more timers, then <c>WorkerTerminate</c> with the grace
    /// period (the worker stops its application and drains), SIGTERM if it is still running after that, SIGKILL
    /// ten seconds later; then the emulator stops. Every caller waits for the same stop.
    /// </summary>
    public Task StopAsync()
    {
        lock (_stopLock)
        {
            return _stopping ??= StopCoreAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _app.DisposeAsync();
    }

    private async Task StopCoreAsync()
    {
        _app.Services.GetRequiredService<LoadedApp>().Close();
        await _app.Services.GetRequiredService<TimerTriggerService>().StopAsync(CancellationToken.None);
        var grace = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(_options.ShutdownGracePeriod);
        var terminate = new StreamingMessage { WorkerTerminate = new WorkerTerminate { GracePeriod = grace } };
        if (!_worker.HasExited && (!_app.Services.GetRequiredService<WorkerChannel>().Post(terminate) || !await ExitsWithin(_options.ShutdownGracePeriod)))
        {
            Log.Escalating(_logger, "SIGTERM");
            _worker.Terminate();
            if (!await ExitsWithin(TimeSpan.FromSeconds(10)))
            {
                Log.Escalating(_logger, "SIGKILL");
            }
        }

        await _worker.DisposeAsync();
        await _app.StopAsync(CancellationToken.None);
    }

    private async Task<bool> ExitsWithin(TimeSpan time)
    {
        await ((Task)_worker.Exited).WaitAsync(time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return _worker.HasExited;
    }

    private static WebApplication Build(EmulatorOptions options, string workerId, Endpoints endpoints, Action<ILoggingBuilder>? logging)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(FunctionsHostEmulator).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = 100 * 1024 * 1024; // the host's request size limit
            var address = options.Url.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(options.Url.Host);
            kestrel.Listen(address, options.Url.Port, o => (endpoints.Public = o).Protocols = HttpProtocols.Http1);

            // The worker's gRPC client speaks HTTP/2 without TLS (prior knowledge): this endpoint must be HTTP/2 only.
            kestrel.Listen(IPAddress.Loopback, 0, o => (endpoints.Rpc = o).Protocols = HttpProtocols.Http2);
        });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning).AddFilter("Grpc", LogLevel.Warning).AddFilter("Yarp", LogLevel.Warning)
            .AddFilter("Worker.Microsoft.AspNetCore", LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        builder.Services.AddRouting();
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = null;
            o.MaxSendMessageSize = null;
        });
        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton(options);

        // The emulator's owner decides when it stops (it must outlive the worker's drain): no console lifetime.
        builder.Services.AddSingleton<IHostLifetime, OwnerControlledLifetime>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(sp => new WorkerChannel(workerId, sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton<LoadedApp>();
        builder.Services.AddSingleton<FunctionInvoker>();
        builder.Services.AddSingleton<WorkerForwarder>();
        builder.Services.AddSingleton<TimerTriggerService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TimerTriggerService>());

        var app = builder.Build();
        app.UseRouting();
        app.UseWhen(c => c.GetEndpoint() is null, b => b.UseMiddleware<HttpTriggerMiddleware>());
        app.MapGrpcService<FunctionRpcService>();
        app.MapAdminEndpoints();
        return app;
    }

    /// <summary>The settings <c>%Name%</c> resolves against: the app settings, and the environment where the worker inherits it.</summary>
    private static Dictionary<string, string> Settings(EmulatorOptions options)
    {
        var settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (options.InheritEnvironment)
        {
            foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            {
                settings[(string)e.Key] = (string?)e.Value ?? "";
            }
        }

        foreach (var (key, value) in options.AppSettings)
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>host.json <c>extensions.http.routePrefix</c>; the host's default is <c>api</c>.</summary>
    private static string ReadRoutePrefix(string appDirectory)
    {
        var hostJson = Path.Combine(appDirectory, "host.json");
        if (!File.Exists(hostJson))
        {
            throw new FileNotFoundException($"No host.json in {appDirectory}: is this a built Functions app?", hostJson);
        }

        return (string?)JsonNode.Parse(File.ReadAllText(hostJson))?["extensions"]?["http"]?["routePrefix"] ?? "api";
    }

    /// <summary>Kestrel's listen options, read after the start for the ports it bound.</summary>
    private sealed class Endpoints
    {
        public ListenOptions? Public { get; set; }

        public ListenOptions? Rpc { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 50, Level = LogLevel.Information, Message = "Host started: {Count} functions loaded, listening on {BaseUrl}. {Routes}")]
        public static partial void Ready(ILogger logger, int count, Uri baseUrl, string routes);

        [LoggerMessage(EventId = 51, Level = LogLevel.Critical, Message = "The function host could not start: {Reason}")]
        public static partial void StartFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 52, Level = LogLevel.Warning, Message = "The worker is still running after its grace period: {Signal}.")]
        public static partial void Escalating(ILogger logger, string signal);
    }
}
