using System.Net;
using System.Text;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Simulator;

/// <summary>
/// The bundled upstream simulator as <c>.ci/start</c> runs it (issue 30, items 4 and 6): it refuses a model its price
/// list does not name, as a provider would, so a typo is not a free 200; and it prints the webhooks it receives.
/// </summary>
public sealed class SimulatorTests
{
    [Fact]
    public async Task WithThePriceList_ATypoIs404ModelNotFound_ASnapshotOrPrefixedNameIsServed_AndWebhooksArePrinted()
    {
        var port = Ports.Free();
        await using var simulator = ChildProcess.Start("dotnet",
            [Repo.Path("tests", "LlmFunctions.FakeUpstream", "bin", "Release", "net10.0", "LlmFunctions.FakeUpstream.dll"),
                "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--models", Repo.Path("functions", "LlmFunctions.Core", "Pricing", "prices.json")]);
        await simulator.WaitForOutputAsync("Upstream simulator listening", TimeSpan.FromSeconds(30));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        async Task<HttpResponseMessage> ChatAsync(string model) => await http.PostAsync("/v1/chat/completions",
            new StringContent($$"""{"model":"{{model}}","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"));

        using var typo = await ChatAsync("gtp-4.1");
        Assert.Equal(HttpStatusCode.NotFound, typo.StatusCode);
        Assert.Contains("\"code\":\"model_not_found\"", await typo.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var snapshot = await ChatAsync("openai/gpt-4.1-2025-04-14");
        Assert.Equal(HttpStatusCode.OK, snapshot.StatusCode);

        using var webhook = new HttpRequestMessage(HttpMethod.Post, "/webhook/local")
        {
            Content = new StringContent("""{"budget":"hard"}""", Encoding.UTF8, "application/json"),
        };
        webhook.Headers.Add("X-LlmFunctions-Signature", "sha256=abc");
        using var received = await http.SendAsync(webhook);
        Assert.Equal(HttpStatusCode.OK, received.StatusCode);
        await simulator.WaitForOutputAsync("""Webhook 'local' received 17 bytes (X-LlmFunctions-Signature: sha256=abc): {"budget":"hard"}""",
            TimeSpan.FromSeconds(10));
    }
}
