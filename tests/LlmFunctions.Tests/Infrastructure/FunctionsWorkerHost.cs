using System.Reflection;
using LlmFunctions.FunctionsHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>The real Functions app (its build output), started by the host emulator on a free loopback port.</summary>
internal sealed class FunctionsWorkerHost : ITestHost
{
    private FunctionsWorkerHost(FunctionsHostEmulator emulator, CapturedLogs logs)
    {
        Emulator = emulator;
        Logs = logs;
    }

    public FunctionsHostEmulator Emulator { get; }

    public CapturedLogs Logs { get; }

    public HostKind Kind => HostKind.Functions;

    public string BaseUrl => Emulator.BaseUrl.ToString().TrimEnd('/');

    public string Log => Logs.All;

    /// <summary>The Functions app's output folder, built in the test assembly's configuration.</summary>
    public static string AppDirectory { get; } = Repo.Path("functions", "LlmFunctions", "bin",
        typeof(FunctionsWorkerHost).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration, "net10.0");

    /// <summary>App settings as the host hands them to the worker: <c>Section:Key</c> becomes <c>Section__Key</c>.</summary>
    public static Dictionary<string, string> AppSettings(IDictionary<string, string?> settings)
    {
        var appSettings = settings.Where(s => s.Value is not null)
            .ToDictionary(s => s.Key.Replace(":", "__", StringComparison.Ordinal), s => s.Value!);

        // The timer binds %BudgetsSchedule% (set beside Budgets__Schedule, as the template does); tests run it on
        // demand, so by default it never fires by itself.
        appSettings.TryAdd("Budgets__Schedule", "0 0 0 1 1 *");
        appSettings.TryAdd("BudgetsSchedule", appSettings["Budgets__Schedule"]);
        appSettings.TryAdd("AZURE_FUNCTIONS_ENVIRONMENT", "Production");
        return appSettings;
    }

    public static async Task<FunctionsWorkerHost> StartAsync(IDictionary<string, string?> settings, TimeSpan? shutdownGracePeriod = null)
    {
        var logs = new CapturedLogs();
        var options = new EmulatorOptions
        {
            AppDirectory = AppDirectory,
            AppSettings = AppSettings(settings),
            Url = new Uri("http://127.0.0.1:0"),
            ShutdownGracePeriod = shutdownGracePeriod ?? TimeSpan.FromSeconds(20),
        };
        var emulator = await FunctionsHostEmulator.StartAsync(options, logging =>
        {
            // Everything, also what the emulator's console leaves out: tests search it (for leaked secrets, say).
            logging.Services.Configure<LoggerFilterOptions>(o => o.Rules.Clear());
            logging.AddProvider(logs.Provider);
            logging.SetMinimumLevel(LogLevel.Debug);
        });
        return new FunctionsWorkerHost(emulator, logs);
    }

    /// <summary>Waits (at most 10 s) until the host's log contains <paramref name="text"/>.</summary>
    public async Task<bool> WaitForLogAsync(string text)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!Log.Contains(text, StringComparison.Ordinal) && DateTime.UtcNow < until)
        {
            await Task.Delay(50);
        }

        return Log.Contains(text, StringComparison.Ordinal);
    }

    public HttpClient CreateHttpClient(string? key = ProxyHost.ClientKey) => ProxyHost.ClientFor(BaseUrl, key);

    public async Task RunBudgetRollupAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Assert.True(await Emulator.InvokeAsync("BudgetRollup", timeout.Token), "BudgetRollup failed:\n" + Log);
    }

    public ValueTask DisposeAsync() => Emulator.DisposeAsync();
}
