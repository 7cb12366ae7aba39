using LlmFunctions.Core.Proxy;

namespace LlmFunctions.Tests.Proxy;

public sealed class TokenEstimatorTests
{
    private static readonly TokenEstimator Estimator = new();

    [Fact]
    public void KnownText_CountsLikeTiktoken()
    {
        Assert.Equal(2, Estimator.Count("gpt-4.1", "Hello world"));
        Assert.Equal(2, Estimator.Count("gpt-3.5-turbo", "Hello world"));
    }

    [Fact]
    public void EmptyText_IsZero() => Assert.Equal(0, Estimator.Count("gpt-4.1", ""));

    [Fact]
    public void LongerText_GrowsRoughlyWithWords()
    {
        var text = string.Join(' ', Enumerable.Repeat("metering", 1000));
        Assert.InRange(Estimator.Count("deepseek-v3.2", text), 900, 2100);
    }
}
