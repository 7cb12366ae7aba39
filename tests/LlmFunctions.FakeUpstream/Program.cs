using LlmFunctions.FakeUpstream;

// The bundled upstream simulator: `dotnet run --project tests/LlmFunctions.FakeUpstream -- --port 7072`.
// OpenAI wire format, streaming included, realistic token counts and latency; no key needed.
var port = args.Length >= 2 && args[0] == "--port" ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 7072;
await using var fake = new FakeOpenAI
{
    Latency = TimeSpan.FromMilliseconds(150),
    Default = new Scenario { ChunkDelay = TimeSpan.FromMilliseconds(25), Words = 24 },
};
var url = await fake.StartAsync(port);
Console.WriteLine($"Upstream simulator listening on {url} (OpenAI wire format; not a real model).");
// The web host inside handles SIGTERM/SIGINT by stopping itself without ending this process, so listen too.
var done = new TaskCompletionSource();
using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, _ => done.TrySetResult());
using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(
    System.Runtime.InteropServices.PosixSignal.SIGINT, _ => done.TrySetResult());
await done.Task;
