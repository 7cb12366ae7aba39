using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using LlmFunctions.Tests.Infrastructure;
using OpenAI.Chat;

namespace LlmFunctions.Tests.Integration;

/// <summary>Who and what a call is for: OpenAI's user and metadata, and the x-llm-tags header, on the record.</summary>
public sealed class AttributionTests
{
    [Theory]
    [OnBothHosts]
    public async Task UserMetadataAndTags_AreStoredOnTheRecord_AndForwardedUnchanged(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(kind: kind);
        using var http = env.Host.CreateHttpClient();
        var body = """
            {"model":"gpt-4.1","user":"user-42","metadata":{"team":"search","ticket":"T-7"},"messages":[{"role":"user","content":"hi"}]}
            """;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("x-llm-tags", "search, beta ,search");

        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var record = await env.SingleRecordAsync();
        Assert.Equal("user-42", record.GetString("EndUser"));
        Assert.Equal("search,beta", record.GetString("Tags"));
        Assert.Equal("""{"team":"search","ticket":"T-7"}""", record.GetString("Metadata"));
        var forwarded = JsonNode.Parse(env.Upstream.SeenBodies.Single())!;
        Assert.Equal("user-42", forwarded["user"]!.GetValue<string>());
        Assert.Equal("T-7", forwarded["metadata"]!["ticket"]!.GetValue<string>());
        Assert.False(env.Upstream.SeenHeaders.Single().ContainsKey("x-llm-tags")); // ours, not the upstream's
    }

    [Theory]
    [InlineData("a b", """{"model":"gpt-4.1","messages":[]}""", "Tag 'a b' in x-llm-tags is not allowed")]
    [InlineData("t0,t1,t2,t3,t4,t5,t6,t7,t8,t9,t10", """{"model":"gpt-4.1","messages":[]}""", "x-llm-tags names 11 tags; the limit is 10.")]
    [InlineData(null, "17 metadata keys", "'metadata' has 17 keys; the limit is 16.")]
    public async Task TooManyOrBadTags_OrTooMuchMetadata_Get400InTheOpenAIShape_AndARecord(string? tags, string body, string message)
    {
        if (body == "17 metadata keys")
        {
            var keys = string.Join(',', Enumerable.Range(1, 17).Select(i => $"\"k{i}\":\"v\""));
            body = $$"""{"model":"gpt-4.1","metadata":{{{keys}}},"messages":[]}""";
        }

        await using var env = await TestEnvironment.StartAsync();
        using var http = env.Host.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (tags is not null)
        {
            request.Headers.Add("x-llm-tags", tags);
        }

        using var response = await http.SendAsync(request);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Equal("invalid_attribution", error["code"]!.GetValue<string>());
        Assert.StartsWith(message, error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(0, env.Upstream.Requests);
        Assert.Equal(400, (await env.SingleRecordAsync()).GetInt32("StatusCode"));
    }

    [Theory]
    [OnBothHosts]
    public async Task AUserBudget_BlocksThatUsersCalls_AndNoOneElses(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            s["Budgets:one-user:Scope"] = "user:u-1";
            s["Budgets:one-user:LimitUsd"] = "0.0003";
            s["Budgets:one-user:Action"] = "block";
        }, kind: kind);
        var chat = env.OpenAI().GetChatClient("gpt-4.1");
        var asU1 = new ChatCompletionOptions { EndUserId = "u-1" };
        await chat.CompleteChatAsync([new UserChatMessage("hi")], asU1);
        await chat.CompleteChatAsync([new UserChatMessage("hi")], asU1); // past $0.0003 now
        await env.RecordsAsync(2);

        await env.Host.RunBudgetRollupAsync();

        var refused = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("hi")], asU1));
        Assert.Equal(429, refused.Status);
        Assert.Contains("Budget 'one-user' (user:u-1, day) is exhausted", refused.Message, StringComparison.Ordinal);
        await chat.CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { EndUserId = "u-2" });
        await chat.CompleteChatAsync([new UserChatMessage("hi")]);
    }
}
