using System.Text;
using LlmFunctions.Core.Proxy;

namespace LlmFunctions.Tests.Proxy;

public sealed class ResponseFactsTests
{
    [Fact]
    public void ChatCompletion_ReadsUsageModelAndId()
    {
        var json = """
            {"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4.1-2025-04-14",
             "choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"}}],
             "usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46,
                      "prompt_tokens_details":{"cached_tokens":5},"completion_tokens_details":{"reasoning_tokens":7}}}
            """u8;
        Assert.True(ResponseFacts.TryRead(json, out var f));
        Assert.Equal(new Usage(12, 5, 34, 7), f.Usage);
        Assert.Equal("gpt-4.1-2025-04-14", f.Model);
        Assert.False(f.ChoicesEmpty);
    }

    [Theory]
    [InlineData(""" "prompt_tokens_details":{"cached_tokens":5,"cache_write_tokens":40} """)]
    [InlineData(""" "prompt_tokens_details":{"cached_tokens":5},"cache_creation_input_tokens":40 """)]
    public void CacheWriteTokens_AreRead_UnderEitherName(string details)
    {
        var json = System.Text.Encoding.UTF8.GetBytes($$$"""
            {"model":"claude-sonnet-4.5","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":3,{{{details}}}}}
            """);
        Assert.True(ResponseFacts.TryRead(json, out var f));
        Assert.Equal(new Usage(100, 5, 3, 0, 40), f.Usage);
    }

    [Fact]
    public void ResponsesApiCompletedEvent_ReadsNestedUsage()
    {
        var json = """
            {"type":"response.completed","response":{"id":"resp_1","model":"gpt-5","output":[],
             "usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":20},"output_tokens":50,"output_tokens_details":{"reasoning_tokens":30}}}}
            """u8;
        Assert.True(ResponseFacts.TryRead(json, out var f));
        Assert.Equal(new Usage(100, 20, 50, 30), f.Usage);
        Assert.Equal("gpt-5", f.Model);
    }

    [Fact]
    public void UsageOnlyStreamChunk_HasEmptyChoices()
    {
        var json = """{"id":"c","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}"""u8;
        Assert.True(ResponseFacts.TryRead(json, out var f));
        Assert.True(f.ChoicesEmpty);
        Assert.Equal(new Usage(1, 0, 2, 0), f.Usage);
    }

    [Fact]
    public void ContentChunk_WithNullUsage_HasNoUsageAndYieldsText()
    {
        var json = """{"id":"c","choices":[{"index":0,"delta":{"content":"Hello \u00e9"}}],"usage":null}"""u8;
        var text = new StringBuilder();
        Assert.True(ResponseFacts.TryRead(json, out var f, text));
        Assert.Null(f.Usage);
        Assert.Equal("Hello é", text.ToString());
    }

    [Fact]
    public void NestedUsageInsideChoices_IsNotTakenForTheCallsUsage()
    {
        var json = """{"choices":[{"message":{"content":"x","usage":{"prompt_tokens":999}}}]}"""u8;
        Assert.True(ResponseFacts.TryRead(json, out var f));
        Assert.Null(f.Usage);
    }

    [Fact]
    public void WithoutIdentity_ReadsUsageButNoModel()
    {
        var json = """{"id":"c","model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}"""u8;
        Assert.True(ResponseFacts.TryRead(json, out var f, readIdentity: false));
        Assert.Null(f.Model);
        Assert.Equal(new Usage(1, 0, 2, 0), f.Usage);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"usage\":")]
    [InlineData("")]
    public void Malformed_ReturnsFalseWithoutThrowing(string body) =>
        Assert.False(ResponseFacts.TryRead(Encoding.UTF8.GetBytes(body), out _));

    [Fact]
    public void NegativeOrHugeNumbers_CountAsZero()
    {
        var json = """{"usage":{"prompt_tokens":-5,"completion_tokens":1e40}}"""u8;
        Assert.True(ResponseFacts.TryRead(json, out var f));
        Assert.Equal(new Usage(0, 0, 0, 0), f.Usage);
    }
}
