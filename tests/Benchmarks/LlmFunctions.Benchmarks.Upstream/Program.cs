using System.Globalization;
using System.Runtime.InteropServices;
using LlmFunctions.FakeUpstream;

// The fake upstream as fast as it goes, for tests/Benchmarks/run.sh:
//   dotnet LlmFunctions.Benchmarks.Upstream.dll --port 7072 [--words 20] [--counter-file path] [--latency-ms 0]
// It writes the number of requests it has served to the counter file every 100 ms, so the script can check
// that the proxy wrote one record per request it forwarded.
var port = 7072;
var words = 20;
string? counterFile = null;
var latency = TimeSpan.Zero;
for (var i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--port": port = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--words": words = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--counter-file": counterFile = args[i + 1]; break;
        case "--latency-ms": latency = TimeSpan.FromMilliseconds(int.Parse(args[i + 1], CultureInfo.InvariantCulture)); break;
        default: throw new ArgumentException($"Unknown option {args[i]}.");
    }
}

await using var fake = new FakeOpenAI
{
    Latency = latency,

    // It would keep every request's headers, body and path for the tests' assertions: millions here.
    RecordRequests = false,
    Default = new Scenario { Words = words, ChunkDelay = TimeSpan.Zero },
};
var url = await fake.StartAsync(port);
Console.WriteLine($"Fast upstream listening on {url} ({words} words, {latency.TotalMilliseconds:0} ms latency).");

// The web host inside FakeOpenAI was only started, never run: its console lifetime swallows SIGTERM and SIGINT
// and waits for a Run() that never comes. Handle both here, so `kill <pid>` ends the process.
using var stop = new CancellationTokenSource();
using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
try
{
    while (await timer.WaitForNextTickAsync(stop.Token))
    {
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

void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}
