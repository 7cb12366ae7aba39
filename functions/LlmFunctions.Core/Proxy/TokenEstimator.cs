using Microsoft.ML.Tokenizers;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Estimates token counts when a response carries no <c>usage</c>, with the tiktoken encodings from
/// Microsoft.ML.Tokenizers: <c>cl100k_base</c> for the GPT-4/3.5 generation, <c>o200k_base</c> for everything else
/// (the closest public encoding for current models; other vendors' tokenizers differ by a few percent, which is why
/// such records say <c>UsageSource = estimated</c>). The encodings load once, on first use.
/// </summary>
internal sealed class TokenEstimator
{
    private readonly Lazy<Tokenizer> _o200k = new(() => TiktokenTokenizer.CreateForEncoding("o200k_base"));
    private readonly Lazy<Tokenizer> _cl100k = new(() => TiktokenTokenizer.CreateForEncoding("cl100k_base"));

    public long Count(string? model, string text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return 0;
        }

        var tokenizer = UsesCl100k(model) ? _cl100k.Value : _o200k.Value;
        return tokenizer.CountTokens(text);
    }

    private static bool UsesCl100k(string? model) =>
        model is not null
        && (model.StartsWith("gpt-4-", StringComparison.OrdinalIgnoreCase)
            || model.Equals("gpt-4", StringComparison.OrdinalIgnoreCase)
            || model.StartsWith("gpt-3.5", StringComparison.OrdinalIgnoreCase)
            || model.StartsWith("text-embedding-", StringComparison.OrdinalIgnoreCase));
}
