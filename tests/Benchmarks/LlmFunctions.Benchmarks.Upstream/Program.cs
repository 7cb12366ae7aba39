using System.Globalization;
using LlmFunctions.FakeUpstream;

// The fake upstream as fast as it goes, for tests/Benchmarks/run.sh:
//   dotnet LlmFunctions.Benchmarks.Upstream.dll --port 7072 [--words 20] [--counter-file path]
// It writes the number of requests it has served to the counter file every 100 ms, so the script can check
// that the proxy wrote one record per request it forwarded.
var port = 7072;
var words = 20;
string? counterFile = null;
for (var i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--port": port = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--words": words = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--counter-file": counterFile = args[i + 1]; break;
        default: throw new ArgumentException($"Unknown option {args[i]}.");
    }
}

await using var fake = new FakeOpenAI
{
    Latency = TimeSpan.Zero,
    Default = new Scenario { Words = words, ChunkDelay = TimeSpan.Zero },
};
var url = await fake.StartAsync(port);
Console.WriteLine($"Fast upstream listening on {url} ({words} words, no latency).");

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();

// FakeOpenAI keeps every request's headers, body and path for the tests' assertions; a benchmark sends
// millions of requests, so drop them as they come or the upstream's memory grows without bound.
using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
try
{
    while (await timer.WaitForNextTickAsync(stop.Token))
    {
        fake.SeenHeaders.Clear();
        fake.SeenBodies.Clear();
        fake.SeenPaths.Clear();
        if (counterFile is not null)
        {
            var temp = counterFile + ".tmp";
            await File.WriteAllTextAsync(temp, fake.Requests.ToString(CultureInfo.InvariantCulture), CancellationToken.None);
            File.Move(temp, counterFile, overwrite: true);
        }
    }
}
catch (OperationCanceledException)
{
}
