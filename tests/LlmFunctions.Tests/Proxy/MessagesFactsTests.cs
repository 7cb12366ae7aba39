using System.Text;
using LlmFunctions.Core.Proxy;

namespace LlmFunctions.Tests.Proxy;

/// <summary>Usage, model, type and text of Anthropic Messages bodies and stream events.</summary>
public sealed class MessagesFactsTests
{
    private static MessagesFacts Read(string json, StringBuilder? text = null)
    {
        Assert.True(MessagesFacts.TryRead(Encoding.UTF8.GetBytes(json), out var facts, text));
        return facts;
    }

    [Fact]
    public void ANonStreamingBody_GivesItsUsageInTheRecordsConvention()
    {
        var facts = Read("""
            {"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
             "content":[{"type":"text","text":"Hi there"},{"type":"tool_use","id":"t1","name":"get_weather","input":{"location":"Paris"}}],
             "stop_reason":"tool_use","usage":{"input_tokens":12,"cache_creation_input_tokens":300,"cache_read_input_tokens":4000,
             "cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200},"output_tokens":50,
             "output_tokens_details":{"thinking_tokens":20},"service_tier":"standard"}}
            """);

        Assert.Equal(MessagesEvent.Message, facts.Type);
        Assert.Equal("claude-sonnet-4-5-20250929", facts.Model);
        // input 12 + reads 4000 + writes 300 = 4312; 1h writes 200; thinking 20 stays inside output 50.
        Assert.Equal(new Usage(4_312, 4_000, 50, 20, 300, 200), facts.Usage!.Value.ToUsage());
    }

    [Fact]
    public void MessageStart_CarriesInputAndCacheUnderMessage_AndTheDeltaOverwritesThem()
    {
        var start = Read("""
            {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"claude-opus-4-6",
             "usage":{"input_tokens":25,"cache_creation_input_tokens":10,"cache_read_input_tokens":5,
             "cache_creation":{"ephemeral_5m_input_tokens":10,"ephemeral_1h_input_tokens":0},"output_tokens":1}}}
            """);
        var delta = Read("""
            {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},
             "usage":{"input_tokens":40,"cache_creation_input_tokens":12,"cache_read_input_tokens":7,"output_tokens":8,
             "output_tokens_details":{"thinking_tokens":3}}}
            """);

        Assert.Equal(MessagesEvent.MessageStart, start.Type);
        Assert.Equal("claude-opus-4-6", start.Model);
        Assert.Equal(MessagesEvent.MessageDelta, delta.Type);
        var merged = start.Usage!.Value.Then(delta.Usage!.Value);
        Assert.Equal(new Usage(40 + 7 + 12, 7, 8, 3, 12, 0), merged.ToUsage());
    }

    [Fact]
    public void ADeltaWithOutputOnly_KeepsTheInputOfMessageStart()
    {
        var start = Read("""{"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}""");
        var delta = Read("""{"type":"message_delta","delta":{},"usage":{"output_tokens":15}}""");

        Assert.Equal(new Usage(25, 0, 15, 0), start.Usage!.Value.Then(delta.Usage!.Value).ToUsage());
    }

    [Fact]
    public void NullCounts_AreAbsent_NotZero()
    {
        var start = Read("""{"type":"message_start","message":{"usage":{"input_tokens":25,"cache_read_input_tokens":9,"output_tokens":1}}}""");
        var delta = Read("""{"type":"message_delta","usage":{"input_tokens":null,"cache_read_input_tokens":null,"output_tokens":15}}""");

        Assert.Equal(new Usage(34, 9, 15, 0), start.Usage!.Value.Then(delta.Usage!.Value).ToUsage());
    }

    [Fact]
    public void AnErrorEvent_NamesItsType()
    {
        var facts = Read("""{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}""");

        Assert.Equal(MessagesEvent.Error, facts.Type);
        Assert.Equal("overloaded_error", facts.ErrorType);
        Assert.Null(facts.Usage);
    }

    [Fact]
    public void GeneratedText_IsTextThinkingAndToolInput_NotIdsOrSignatures()
    {
        var text = new StringBuilder();
        Read("""{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}""", text);
        Read("""{"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","thinking":"Hmm"}}""", text);
        Read("""{"type":"content_block_delta","index":1,"delta":{"type":"signature_delta","signature":"SECRETSIG"}}""", text);
        Read("""{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"loc"}}""", text);
        Read("""{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_X","name":"n","input":{}}}""", text);

        var seen = text.ToString();
        Assert.Contains("Hello", seen);
        Assert.Contains("Hmm", seen);
        Assert.Contains("{\"loc", seen);
        Assert.DoesNotContain("SECRETSIG", seen);
        Assert.DoesNotContain("toolu_X", seen);
    }

    [Fact]
    public void NotAnObject_IsRefused() => Assert.False(MessagesFacts.TryRead("[1]"u8, out _));
}
