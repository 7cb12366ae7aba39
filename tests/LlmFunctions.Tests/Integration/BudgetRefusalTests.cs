using System.ClientModel;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using LlmFunctions.Tests.Infrastructure;
using OpenAI.Chat;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// What a client over budget meets (issue 30): a refusal the SDKs do not retry, with the reset time, instead of a
/// <c>Retry-After</c> of hours that openai-node waited out silently. Timing-sensitive: the SDKs' times are wall-clock
/// bounds (the Node SDK's 2 s passed 2,062 ms once on a Functions worker beside 200 parallel tests).
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class BudgetRefusalTests
{
    /// <summary>A reserved block budget far below one call's worst case: every gpt-4.1 call is refused before it is forwarded.</summary>
    private static void ExhaustedBudget(Dictionary<string, string?> s)
    {
        s["Budgets:hard:Scope"] = "client:alpha";
        s["Budgets:hard:LimitUsd"] = "0.000001";
        s["Budgets:hard:Action"] = "block";
        s["Budgets:hard:Reserve"] = "true";
    }

    [Theory]
    [OnBothHosts]
    public async Task BudgetExceeded_SaysNotToRetry_AndWhenItResets_WithoutRetryAfter(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(ExhaustedBudget, kind: kind);
        using var http = env.Host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/chat/completions", ChatBody.For("gpt-4.1"));

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Null(response.Headers.RetryAfter);
        Assert.Equal("false", response.Headers.GetValues("x-should-retry").Single());
        var reset = DateTimeOffset.Parse(response.Headers.GetValues("x-llm-budget-reset").Single(), CultureInfo.InvariantCulture);
        Assert.InRange(reset - DateTimeOffset.UtcNow, TimeSpan.Zero, TimeSpan.FromDays(1));
        var text = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("\\u0027", text, StringComparison.Ordinal); // "Budget 'hard'", not "Budget \u0027hard\u0027"
        var error = JsonNode.Parse(text)!["error"]!;
        Assert.Equal("budget_exceeded", error["code"]!.GetValue<string>());
        Assert.Equal(reset, DateTimeOffset.Parse(error["reset_at"]!.GetValue<string>(), CultureInfo.InvariantCulture));
        Assert.Contains("Budget 'hard'", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [OnBothHosts]
    public async Task TheOpenAINodeSdk_WithItsDefaultRetries_FailsAtOnce_OnABudgetRefusal(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(ExhaustedBudget, kind: kind);
        var script = """
            const { OpenAI } = require(process.env.OPENAI_SDK);
            const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY, timeout: 60000 }); // maxRetries: default (2)
            const started = Date.now();
            client.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] })
              .then(() => console.log(JSON.stringify({ ok: true })))
              .catch(e => console.log(JSON.stringify({ status: e.status, code: e.code, ms: Date.now() - started })));
            """;

        var started = Stopwatch.StartNew();
        await using var node = ChildProcess.Start("node", ["-e", script], new Dictionary<string, string>
        {
            ["OPENAI_SDK"] = Repo.OpenAINodeSdk, ["BASE_URL"] = env.Host.OpenAIBase.ToString(), ["API_KEY"] = ProxyHost.ClientKey,
        });
        await node.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        var result = JsonNode.Parse(node.Output.Trim().Split('\n').Last())!;
        Assert.Equal(429, result["status"]!.GetValue<int>());
        Assert.Equal("budget_exceeded", result["code"]!.GetValue<string>());
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"took {started.Elapsed}");
        Assert.True(result["ms"]!.GetValue<int>() < 2_000, $"the SDK waited {result["ms"]} ms"); // its shortest backoff is 0.5 s
        Assert.Single(await env.RecordsAsync(1, TimeSpan.FromSeconds(2))); // one attempt, not three
    }

    [Theory]
    [OnBothHosts]
    public async Task TheOpenAIDotNetSdk_FailsWithTheRefusal_AndNeverWaitsForTheReset(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(ExhaustedBudget, kind: kind);
        var client = env.OpenAI(maxRetries: 2).GetChatClient("gpt-4.1");
        var started = Stopwatch.StartNew();

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync([new UserChatMessage("hi")]));

        // The .NET SDK's retry policy reads Retry-After, not x-should-retry: without the former it backs off briefly.
        Assert.Equal(429, ex.Status);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(15), $"took {started.Elapsed}");
        Assert.Equal(0, env.Upstream.Requests);
    }
}
