using System.Text.Json.Nodes;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// Issue 30 (5): the proxy retries an unreachable or failing upstream itself (<c>Upstream__MaxRetries</c>), so its answer
/// after those retries says <c>x-should-retry: false</c>; before, the OpenAI Node SDK retried each 502 twice more and a call
/// to an unreachable upstream took 49 s on the quick start (3 × the proxy's 2 + 4 + 8 s). One SDK attempt, one record.
/// </summary>
public sealed class SdkRetryTests
{
    private const string Script = """
        const { OpenAI } = require(process.env.OPENAI_SDK);
        const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY, timeout: 60000 }); // maxRetries: default (2)
        client.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] })
          .then(() => console.log(JSON.stringify({ ok: true })))
          .catch(e => console.log(JSON.stringify({ status: e.status, code: e.code, retry: e.headers?.get('x-should-retry') })));
        """;

    [Theory]
    [OnBothHosts(false)]
    [OnBothHosts(true)]
    public async Task AfterTheProxysOwnRetries_TheNodeSdkDoesNotRetryAgain(bool unreachable, HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            if (unreachable)
            {
                s["Upstream:BaseUrl"] = "http://127.0.0.1:9/v1"; // nothing listens on the discard port
            }
        }, kind: kind);
        env.Upstream.Default = new Scenario { Status = 503 };

        await using var node = ChildProcess.Start("node", ["-e", Script], new Dictionary<string, string>
        {
            ["OPENAI_SDK"] = Repo.OpenAINodeSdk, ["BASE_URL"] = env.Host.OpenAIBase.ToString(), ["API_KEY"] = ProxyHost.ClientKey,
        });
        await node.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        var result = JsonNode.Parse(node.Output.Trim().Split('\n').Last())!;
        Assert.Equal(unreachable ? 502 : 503, result["status"]!.GetValue<int>());
        Assert.Equal("false", result["retry"]?.GetValue<string>());
        Assert.Single(await env.RecordsAsync(1)); // one SDK attempt, not three (it waits until the host is idle)
        Assert.Equal(unreachable ? 0 : 4, env.Upstream.Requests); // the proxy's own: the call and its 3 retries
    }
}
