using System.Text;
using LlmFunctions.Core.Proxy;

namespace LlmFunctions.Tests.Proxy;

public sealed class BodyTailTests
{
    [Fact]
    public void ABodyFedInSmallChunks_KeepsItsLastWindow_AndReadsTheTopLevelUsage()
    {
        // A 300 KB embeddings answer whose input echoed "usage" as text (escaped, so never a member name).
        var data = string.Join(',', Enumerable.Range(0, 3000).Select(i => $$"""{"object":"embedding","index":{{i}},"embedding":[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]}"""));
        var json = $$$"""{"object":"list","model":"text-embedding-3-large","note":"\"usage\": {\"prompt_tokens\": 1}","data":[{{{data}}}],"usage":{"prompt_tokens":8192,"total_tokens":8192}}""";
        var bytes = Encoding.UTF8.GetBytes(json);
        using var tail = new BodyTail();
        foreach (var chunk in bytes.Chunk(1000))
        {
            tail.Append(chunk);
        }

        Assert.Equal(bytes.Length, tail.Total);
        Assert.True(tail.Span.Length <= 2 * BodyTail.Window);
        Assert.True(tail.Span.SequenceEqual(bytes.AsSpan(bytes.Length - tail.Span.Length)));
        Assert.Equal(8192, tail.ReadUsage()!.Value.InputTokens);
        Assert.Equal("text-embedding-3-large", BodyTail.ReadModel(bytes.AsSpan(0, 4096)));
    }

    [Theory]
    [InlineData("""{"model":"m","choices":[{"message":{"content":"the \"usage\": {\"prompt_tokens\": 99} is text"}}]}""")]
    [InlineData("""{"model":"m","usage":{"prompt_tokens":5""")] // cut short: no complete usage
    [InlineData("""{"model":"m","usage":null}""")]
    public void ABodyWithoutACompleteUsageMember_HasNone(string json)
    {
        using var tail = new BodyTail();
        tail.Append(Encoding.UTF8.GetBytes(json));
        Assert.Null(tail.ReadUsage());
    }

    [Fact]
    public void AChunkLargerThanTheWindow_KeepsItsEnd()
    {
        using var tail = new BodyTail();
        var big = new byte[BodyTail.Window * 3];
        big[^1] = 7;
        tail.Append(big);
        Assert.Equal(BodyTail.Window, tail.Span.Length);
        Assert.Equal(7, tail.Span[^1]);
    }
}
