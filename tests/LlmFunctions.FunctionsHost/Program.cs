using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using LlmFunctions.FunctionsHost;

// Runs the built Functions app on this emulator, with the app settings from the environment (as on Azure) and,
// where the environment lacks one, from the app folder's local.settings.json (as Core Tools does).
//   dotnet run --project tests/LlmFunctions.FunctionsHost -- --urls http://127.0.0.1:7071 [--app <worker folder>]
var url = new Uri(Argument("--urls") ?? "http://127.0.0.1:7071");
var appDirectory = Path.GetFullPath(Argument("--app") ?? DefaultAppDirectory());

var settings = new Dictionary<string, string>();
var localSettings = Path.Combine(appDirectory, "local.settings.json");
if (File.Exists(localSettings) && JsonNode.Parse(File.ReadAllText(localSettings))?["Values"] is JsonObject values)
{
    foreach (var (key, value) in values)
    {
        if (Environment.GetEnvironmentVariable(key) is null && value is not null)
        {
            settings[key] = value.ToString();
        }
    }
}

var options = new EmulatorOptions { AppDirectory = appDirectory, AppSettings = settings, Url = url, InheritEnvironment = true };
FunctionsHostEmulator emulator;
try
{
    emulator = await FunctionsHostEmulator.StartAsync(options, logging => logging.AddSimpleConsole(o =>
    {
        o.SingleLine = true;
        o.TimestampFormat = "HH:mm:ss ";
    }));
}
catch (Exception ex) when (ex is FunctionIndexingException or InvalidOperationException or IOException or TimeoutException or OperationCanceledException)
{
    await Console.Error.WriteLineAsync("The function host could not start: " + ex.Message);
    return 1;
}

await using var running = emulator;

var stop = new TaskCompletionSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
await Task.WhenAny(stop.Task, emulator.WorkerExited);
await emulator.StopAsync();
return emulator.WorkerExitCode ?? 0;

string? Argument(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

static string DefaultAppDirectory()
{
    var dir = new DirectoryInfo(AppContext.BaseDirectory);
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "LlmFunctions.sln")))
    {
        dir = dir.Parent;
    }

#if DEBUG
    const string configuration = "Debug";
#else
    const string configuration = "Release";
#endif
    return Path.Combine(dir?.FullName ?? ".", "functions", "LlmFunctions", "bin", configuration, "net10.0");
}
