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
var done = new TaskCompletionSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; done.TrySetResult(); };
AppDomain.CurrentDomain.ProcessExit += (_, _) => done.TrySetResult();
await done.Task;
