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
    public void OtherVendorsModels_AreCountedWithO200k_LikeCurrentOpenAIModels_AndOldOnesWithCl100k()
    {
        var text = string.Join(' ', Enumerable.Repeat("metering", 1000)) + " 東京 naïve 🙂";
        var o200k = Microsoft.ML.Tokenizers.TiktokenTokenizer.CreateForEncoding("o200k_base").CountTokens(text);
        var cl100k = Microsoft.ML.Tokenizers.TiktokenTokenizer.CreateForEncoding("cl100k_base").CountTokens(text);

        Assert.Equal(o200k, Estimator.Count("deepseek-v3.2", text));
        Assert.Equal(o200k, Estimator.Count("gpt-4.1", text));
        Assert.Equal(cl100k, Estimator.Count("gpt-4-0613", text));
        Assert.NotEqual(o200k, cl100k); // the text tells the two encodings apart, so the model picks one
    }
}
