using System.Text.Json;

namespace LlmFunctions.Core.Proxy;

/// <summary>What the proxy reads from an Anthropic Messages body beyond what both APIs share.</summary>
internal sealed partial class RequestFacts
{
    /// <summary><c>metadata</c> is neither an object nor null, or has a value that is not a string (Anthropic's <c>user_id</c> is one).</summary>
    public bool MetadataMalformed { get; private set; }

    /// <summary><c>max_tokens</c> as given (an integer; null when absent or null): required by the Messages API.</summary>
    public long? MaxTokens { get; private set; }

    /// <summary><c>thinking.budget_tokens</c>: the extended-thinking budget, which Anthropic keeps inside <c>max_tokens</c>.</summary>
    public long? ThinkingBudgetTokens { get; private set; }

    /// <summary>Anthropic's end user: <c>metadata.user_id</c>, when a string.</summary>
    public string? MetadataUserId => Metadata?.GetValueOrDefault("user_id");

    /// <summary>
    /// Reads <c>thinking</c>: in an object, a <c>budget_tokens</c> that is not an integer refuses the body (it bounds the
    /// worst case); another shape is left to the upstream (OpenAI-compatible providers spell their own). The budget is
    /// inside <c>max_tokens</c>, but a worst case never trusts that: the output cap is the larger of the two.
    /// </summary>
    private bool TryReadThinking(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return true;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isBudget = reader.ValueTextEquals("budget_tokens"u8);
            reader.Read();
            if (!isBudget || reader.TokenType == JsonTokenType.Null)
            {
                reader.Skip();
                continue;
            }

            if (reader.TokenType != JsonTokenType.Number || !IsInteger(reader.ValueSpan) || !reader.TryGetInt64(out var budget) || budget < 0)
            {
                Problem = "'thinking.budget_tokens' must be a non-negative integer.";
                return false;
            }

            ThinkingBudgetTokens = budget;
            MaxOutputTokens = Math.Max(MaxOutputTokens ?? 0, budget);
        }

        return true;
    }
}
