using System.Text;
using System.Text.Json.Nodes;
using LlmFunctions.Core.Proxy;

namespace LlmFunctions.Tests.Proxy;

public sealed class RequestFactsTests
{
    [Theory]
    [InlineData("""{"model":"m","messages":[]}""", 1)]
    [InlineData("""{"model":"m","n":3,"messages":[]}""", 3)]
    [InlineData("""{"model":"m","n":2,"best_of":5,"prompt":"x"}""", 5)]
    [InlineData("""{"model":"m","n":null,"messages":[{"n":9}]}""", 1)] // null, and not at the top level
    [InlineData("""{"model":"m","n":1125899906842624,"messages":[]}""", 128)] // OpenAI's limit: a worst case never wraps
    public void Choices_AreTheLargerOfNAndBestOf(string json, long choices)
    {
        Assert.True(RequestFacts.TryParse(System.Text.Encoding.UTF8.GetBytes(json), out var f));
        Assert.Equal(choices, f.Choices);
    }

    [Theory]
    [InlineData("""{"model":"m","input":"hi"}""", false)]
    [InlineData("""{"model":"m","input":"hi","previous_response_id":"resp_1"}""", true)]
    [InlineData("""{"model":"m","input":"hi","conversation":{"id":"conv_1"}}""", true)]
    [InlineData("""{"model":"m","input":"hi","previous_response_id":null}""", false)]
    public void StoredInput_IsNoticed(string json, bool stored)
    {
        Assert.True(RequestFacts.TryParse(System.Text.Encoding.UTF8.GetBytes(json), out var f));
        Assert.Equal(stored, f.HasStoredInput);
    }

    [Fact]
    public void ChatRequest_ReadsModelStreamAndLimits()
    {
        var json = """{"model":"gpt-4.1","stream":true,"stream_options":{"include_usage":false},"max_completion_tokens":256,"messages":[{"role":"user","content":"hi"}]}"""u8;
        Assert.True(RequestFacts.TryParse(json, out var f));
        Assert.Equal("gpt-4.1", f.Model);
        Assert.True(f.Stream);
        Assert.True(f.HasStreamOptions);
        Assert.False(f.IncludeUsage);
        Assert.Equal(256, f.MaxOutputTokens);
    }

    [Theory]
    [InlineData("{\"model\":")]
    [InlineData("{\"model\":\"x\"} trailing")]
    [InlineData("[]")]
    [InlineData("\"just a string\"")]
    public void NotAJsonObject_IsRejected(string body) => Assert.False(RequestFacts.TryParse(Encoding.UTF8.GetBytes(body), out _));

    [Theory]
    [InlineData("""{"model":"cheap","model":"expensive"}""", "model")]
    [InlineData("""{"model":"m","stream":false,"stream":true}""", "stream")]
    public void DuplicateMembersTheProxyActsOn_AreRefused(string body, string member)
    {
        Assert.False(RequestFacts.TryParse(Encoding.UTF8.GetBytes(body), out var facts));
        Assert.Contains($"'{member}' more than once", facts.Problem);
    }

    [Fact]
    public void LoneSurrogateEscape_IsRefusedNotThrown() =>
        Assert.False(RequestFacts.TryParse("""{"model":"gpt-4.1\ud800"}"""u8, out _));

    [Fact]
    public void Rewrite_WithoutStreamOptions_SplicesIncludeUsage()
    {
        var json = """{"model":"m","stream":true,"messages":[]}"""u8;
        var result = RequestFacts.Rewrite(json, injectUsage: true, hasStreamOptions: false, model: null);
        Assert.Equal("""{"model":"m","stream":true,"messages":[],"stream_options":{"include_usage":true}}""", Encoding.UTF8.GetString(result));
    }

    [Fact]
    public void Rewrite_WithOtherStreamOptions_KeepsThemAndAddsIncludeUsage()
    {
        var json = """{"model":"m","stream":true,"stream_options":{"include_obfuscation":false}}"""u8;
        var node = JsonNode.Parse(RequestFacts.Rewrite(json, true, true, null))!;
        Assert.True(node["stream_options"]!["include_usage"]!.GetValue<bool>());
        Assert.False(node["stream_options"]!["include_obfuscation"]!.GetValue<bool>());
    }

    [Fact]
    public void Rewrite_KeepsDuplicatesOfOtherMembersAsTheyAre()
    {
        var json = """{"messages":"x","model":"gpt-4.1","messages":[{"role":"user","content":"hi"}],"stream":true}"""u8;
        var result = Encoding.UTF8.GetString(RequestFacts.Rewrite(json, injectUsage: true, hasStreamOptions: true, model: "gpt-4.1-mini"));
        Assert.Equal(
            """{"messages":"x","model":"gpt-4.1-mini","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}""",
            result);
    }

    [Fact]
    public void Rewrite_Downgrade_ReplacesTheModelOnly()
    {
        var json = """{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}"""u8;
        var node = JsonNode.Parse(RequestFacts.Rewrite(json, false, false, "gpt-4.1-mini"))!;
        Assert.Equal("gpt-4.1-mini", node["model"]!.GetValue<string>());
        Assert.Equal("hi", node["messages"]![0]!["content"]!.GetValue<string>());
    }

    [Fact]
    public void PromptText_CollectsMessagesButNotModel()
    {
        var text = RequestFacts.PromptText("""{"model":"secret-model-name","messages":[{"role":"user","content":"Hello world"}],"temperature":0.5}"""u8);
        Assert.Contains("Hello world", text);
        Assert.DoesNotContain("secret-model-name", text);
    }

    [Theory]
    [InlineData("""{"Model":"gpt-4.1","model":"gpt-4.1-nano","messages":[]}""", "use 'model'")]
    [InlineData("""{"model":"m","MAX_TOKENS":100000,"max_tokens":1,"messages":[]}""", "use 'max_tokens'")]
    [InlineData("""{"model":"m","Stream":true,"messages":[]}""", "use 'stream'")]
    [InlineData("""{"model":"m","\u004E":5,"messages":[]}""", "use 'n'")] // an escaped 'N'
    [InlineData("""{"model":"m","n":"2","messages":[]}""", "'n' must be an integer")]
    [InlineData("""{"model":"m","best_of":1e3,"prompt":"x"}""", "'best_of' must be an integer")]
    [InlineData("""{"model":"m","max_tokens":8.5,"messages":[]}""", "'max_tokens' must be an integer")]
    [InlineData("""{"model":"m","max_completion_tokens":"100000","messages":[]}""", "'max_completion_tokens' must be an integer")]
    [InlineData("""{"model":"m","max_output_tokens":true,"input":"x"}""", "'max_output_tokens' must be an integer")]
    [InlineData("""{"model":"m","stream":"true","messages":[]}""", "'stream' must be true or false")]
    public void MembersTheUpstreamCouldReadDifferently_AreRefused(string json, string problem)
    {
        Assert.False(RequestFacts.TryParse(Encoding.UTF8.GetBytes(json), out var f));
        Assert.Contains(problem, f.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"model":"m","max_tokens":10,"max_completion_tokens":5000,"messages":[]}""", 5000)]
    [InlineData("""{"model":"m","max_completion_tokens":5000,"max_tokens":10,"messages":[]}""", 5000)]
    [InlineData("""{"model":"m","max_tokens":null,"max_completion_tokens":7,"messages":[]}""", 7)]
    public void MaxTokensAndMaxCompletionTokens_TheLargerCounts(string json, long max)
    {
        Assert.True(RequestFacts.TryParse(Encoding.UTF8.GetBytes(json), out var f));
        Assert.Equal(max, f.MaxOutputTokens);
    }

    [Fact]
    public void ABodyNestedOneHundredDeep_IsParsedAndRewrittenAlike()
    {
        // The parse allowed 128 levels and the rewrite 64: valid JSON the parse took made the rewrite throw (a 500).
        var nested = new string('[', 100) + new string(']', 100);
        var json = Encoding.UTF8.GetBytes($$"""{"model":"m","stream":true,"stream_options":{"include_usage":false},"messages":[],"x":{{nested}}}""");
        Assert.True(RequestFacts.TryParse(json, out var f));

        var rewritten = RequestFacts.Rewrite(json, injectUsage: true, f.HasStreamOptions, model: "other");

        var node = JsonNode.Parse(rewritten, documentOptions: new System.Text.Json.JsonDocumentOptions { MaxDepth = 128 })!;
        Assert.True(node["stream_options"]!["include_usage"]!.GetValue<bool>());
        Assert.Equal("other", node["model"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""{"model":"claude-opus-4-6","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1500}}""", 2000L, 1500L)]
    [InlineData("""{"model":"claude-opus-4-6","thinking":{"type":"enabled","budget_tokens":5000},"max_tokens":2000}""", 5000L, 5000L)]
    [InlineData("""{"model":"m","thinking":true,"max_tokens":10}""", 10L, null)]
    public void AnthropicsThinkingBudget_BoundsTheWorstCaseWithMaxTokens(string json, long maxOutput, long? budget)
    {
        Assert.True(RequestFacts.TryParse(System.Text.Encoding.UTF8.GetBytes(json), out var facts));
        Assert.Equal(maxOutput, facts.MaxOutputTokens);
        Assert.Equal(budget, facts.ThinkingBudgetTokens);
    }

    [Theory]
    [InlineData("""{"model":"m","metadata":{"user_id":"u"}}""", false, "u")]
    [InlineData("""{"model":"m","metadata":{"user_id":5}}""", true, null)]
    [InlineData("""{"model":"m","metadata":"u"}""", true, null)]
    [InlineData("""{"model":"m","metadata":null}""", false, null)]
    public void AnthropicsMetadata_GivesTheUserId_OrIsMalformed(string json, bool malformed, string? user)
    {
        Assert.True(RequestFacts.TryParse(System.Text.Encoding.UTF8.GetBytes(json), out var facts));
        Assert.Equal(malformed, facts.MetadataMalformed);
        Assert.Equal(user, facts.MetadataUserId);
    }
}
