using LlmFunctions.Core.Aggregation;

namespace LlmFunctions.Tests.Metrics;

/// <summary>The stored key text: keys from before the upstream label still read, and write back the same.</summary>
public sealed class MetricKeyTests
{
    [Theory]
    [InlineData("requests|POST|/v1/chat/completions|200|gpt-4.1|alpha", "")]
    [InlineData("requests|POST|/v1/chat/completions|200|gpt-4.1|alpha|default", "default")]
    public void RequestKeys_WithAndWithoutAnUpstream_RoundTrip(string text, string upstream)
    {
        Assert.True(MetricKey.TryParse(text, out var key));
        Assert.Equal(MetricKind.Requests, key.Kind);
        Assert.Equal("alpha", key.Client);
        Assert.Equal(upstream, key.Upstream);
        Assert.Equal(text, key.ToString());
    }

    [Fact]
    public void AKeyOfAnUnknownShape_IsSkipped()
    {
        Assert.False(MetricKey.TryParse("requests|POST|/v1/x|200|m|c|u|extra", out _));
        Assert.False(MetricKey.TryParse("newkind|a", out _));
    }
}
