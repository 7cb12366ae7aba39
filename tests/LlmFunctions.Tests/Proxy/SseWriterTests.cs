using System.IO.Pipelines;
using System.Text;
using LlmFunctions.Core.Proxy;

namespace LlmFunctions.Tests.Proxy;

public sealed class SseWriterTests
{
    [Theory]
    [InlineData("""{"id":"a","choices":[],"usage":null}""", """{"id":"a","choices":[]}""")]
    [InlineData("""{"usage":null,"id":"a"}""", """{"id":"a"}""")]
    [InlineData("""{"id":"a", "usage":null}""", """{"id":"a"}""")]
    [InlineData("""{"id":"a"}""", """{"id":"a"}""")]
    public void StripNullUsage_RemovesOnlyTheNullUsageMember(string input, string expected)
    {
        var bytes = Encoding.UTF8.GetBytes(input);
        var length = SseWriter.StripNullUsage(bytes);
        Assert.Equal(expected, Encoding.UTF8.GetString(bytes, 0, length));
    }

    [Fact]
    public async Task Write_MultiLineDataAndEventType_FollowTheSseFormat()
    {
        var pipe = new Pipe();
        SseWriter.Write(pipe.Writer, "response.output_text.delta", null, "line1\nline2"u8);
        SseWriter.Write(pipe.Writer, "message", null, "{}"u8);
        await pipe.Writer.CompleteAsync();
        var text = Encoding.UTF8.GetString((await pipe.Reader.ReadAsync()).Buffer);
        Assert.Equal("event: response.output_text.delta\ndata: line1\ndata: line2\n\ndata: {}\n\n", text);
    }

    [Theory]
    [InlineData("[DONE]", true)]
    [InlineData(" [DONE]", true)]
    [InlineData("[DONE]x", false)]
    public void IsDone_RecognisesTheEndMarker(string data, bool expected) => Assert.Equal(expected, SseWriter.IsDone(Encoding.UTF8.GetBytes(data)));
}
