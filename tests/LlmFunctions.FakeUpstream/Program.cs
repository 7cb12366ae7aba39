using System.Text.Json;
using System.Text.RegularExpressions;
using LlmFunctions.FakeUpstream;

// The bundled upstream simulator: `dotnet run --project tests/LlmFunctions.FakeUpstream -- --port 7072 [--models prices.json]`.
// OpenAI wire format, streaming included, token counts of about 4 bytes a token, latency; no key needed. With --models
// it refuses models not named in that price list (404 model_not_found), as a provider would. It is also a webhook
// receiver: POST /webhook/<name> prints what it received (signature headers and body).
var options = args.Chunk(2).Where(pair => pair.Length == 2).ToDictionary(pair => pair[0], pair => pair[1], StringComparer.Ordinal);
var port = options.TryGetValue("--port", out var portText) ? int.Parse(portText, System.Globalization.CultureInfo.InvariantCulture) : 7072;
await using var fake = new FakeOpenAI
{
    Latency = TimeSpan.FromMilliseconds(150),
    Default = new Scenario { ChunkDelay = TimeSpan.FromMilliseconds(25), Words = 24 },
    WebhookLog = Console.Out,
};
if (options.TryGetValue("--models", out var pricesFile))
{
    using var prices = JsonDocument.Parse(File.ReadAllText(pricesFile));
    var known = prices.RootElement.GetProperty("models").EnumerateObject().Select(m => m.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);

    // A provider prefix and a dated snapshot name the same model, as at the proxy.
    fake.KnowsModel = model => known.Contains(Regex.Replace(model[(model.LastIndexOf('/') + 1)..], @"-\d{4}-\d{2}-\d{2}$", ""));
}

var url = await fake.StartAsync(port);
Console.WriteLine($"Upstream simulator listening on {url} (OpenAI wire format; not a real model); webhooks: POST {url[..^3]}/webhook/<name>.");
// The web host inside handles SIGTERM/SIGINT by stopping itself without ending this process, so listen too.
var done = new TaskCompletionSource();
using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, _ => done.TrySetResult());
using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(
    System.Runtime.InteropServices.PosixSignal.SIGINT, _ => done.TrySetResult());
await done.Task;
