using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using LlmFunctions.Core.Budgets;
using LlmFunctions.FakeUpstream;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Integration;

/// <summary>Issue 29: a downgrade budget moves a Messages call only to a Claude model (local host: the test runs the rollup).</summary>
public sealed class AnthropicBudgetTests
{
    private static StringContent Messages(string model) =>
        new($$"""{"model":"{{model}}","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");

    /// <summary>$0.06 spent (3 gpt-4.1 calls of 10,000 prompt tokens) against a $0.05 downgrade budget, rolled up.</summary>
    private static async Task<TestEnvironment> OverADowngradeBudgetAsync(string downgradeTo)
    {
        var env = await TestEnvironment.StartAsync(s =>
        {
            s["Budgets:soft:LimitUsd"] = "0.05";
            s["Budgets:soft:Action"] = "downgrade";
            s["Budgets:soft:DowngradeTo"] = downgradeTo;
            s["Upstreams:claude:Kind"] = "anthropic";
            s["Upstreams:claude:BaseUrl"] = s["Upstream:BaseUrl"]![..^"/v1".Length];
            s["Upstreams:claude:ApiKey"] = "sk-ant-operator";
            s["Upstreams:claude:Models"] = "claude-*";
        });
        env.Upstream.Default = new Scenario { PromptTokens = 10_000, Words = 12 };
        using var http = env.Host.CreateHttpClient();
        for (var i = 0; i < 3; i++)
        {
            using var spent = await http.PostAsync("/v1/chat/completions",
                new StringContent("""{"model":"gpt-4.1","messages":[]}""", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, spent.StatusCode);
        }

        await env.RecordsAsync(3);
        await env.Local.Get<BudgetRollup>().RunAsync(CancellationToken.None);
        await env.Local.Get<BudgetEnforcer>().RefreshAsync();
        return env;
    }

    [Fact]
    public async Task ADowngradeToAClaudeModel_IsSentAsThatModel_AndBilledAsIt()
    {
        await using var env = await OverADowngradeBudgetAsync("claude-haiku-4-5");
        using var http = env.Host.CreateHttpClient();

        using var response = await http.PostAsync("/v1/messages", Messages("claude-opus-4-6"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("claude-opus-4-6", response.Headers.GetValues("x-llm-downgraded-from").Single());
        Assert.Equal("/v1/messages", env.Upstream.SeenPaths.Last());
        Assert.Equal("claude-haiku-4-5", JsonNode.Parse(env.Upstream.SeenBodies.Last())!["model"]!.GetValue<string>());
        var r = (await env.RecordsAsync(4)).Single(c => c.GetString("Endpoint") == "/v1/messages");
        Assert.Equal(("claude-opus-4-6", "claude-haiku-4-5"), (r.GetString("Model"), r.GetString("UsedModel")));
        // 10,000 × $1 + 12 × $5 per 1M (Haiku 4.5) = $0.01006.
        Assert.Equal(10_060_000, r.GetInt64("CostNanoUsd"));
    }

    [Fact]
    public async Task ADowngradeToAnotherVendorsModel_RefusesTheMessagesCall_InAnthropicsShape()
    {
        await using var env = await OverADowngradeBudgetAsync("gpt-4.1-mini");
        using var http = env.Host.CreateHttpClient();
        var before = env.Upstream.Requests;

        using var response = await http.PostAsync("/v1/messages", Messages("claude-opus-4-6"));

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("rate_limit_error", (string?)error["error"]!["type"]);
        Assert.Contains("not a Claude model", (string?)error["error"]!["message"]);
        Assert.Equal(before, env.Upstream.Requests);

        // The OpenAI calls are downgraded as before.
        using var chat = await http.PostAsync("/v1/chat/completions",
            new StringContent("""{"model":"gpt-4.1","messages":[]}""", Encoding.UTF8, "application/json"));
        Assert.Equal("gpt-4.1", chat.Headers.GetValues("x-llm-downgraded-from").Single());
    }
}
