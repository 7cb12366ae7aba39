namespace LlmFunctions.Core.Aggregation;

/// <summary>What a budget counts: everything, one client, one model, one tag (<c>x-llm-tags</c>) or one end user (<c>user</c>).</summary>
internal readonly record struct BudgetScope(string Kind, string Value)
{
    public static BudgetScope Global { get; } = new("global", "");

    public static bool TryParse(string? text, out BudgetScope scope)
    {
        scope = default;
        if (string.Equals(text, "global", StringComparison.OrdinalIgnoreCase))
        {
            scope = Global;
            return true;
        }

        var colon = text?.IndexOf(':') ?? -1;
        if (colon <= 0 || colon == text!.Length - 1)
        {
            return false;
        }

        var kind = text[..colon].ToLowerInvariant();
        if (kind is not ("client" or "model" or "tag" or "user"))
        {
            return false;
        }

        scope = new BudgetScope(kind, text[(colon + 1)..]);
        return true;
    }

    /// <summary>True when a call under <paramref name="key"/> counts against this scope.</summary>
    public bool Matches(SpendKey key) => Kind switch
    {
        "global" => true,
        "client" => string.Equals(key.Client, Value, StringComparison.Ordinal),
        "tag" => key.HasTag(Value),
        "user" => string.Equals(key.User, Value, StringComparison.Ordinal),
        _ => string.Equals(key.Model, Value, StringComparison.OrdinalIgnoreCase),
    };

    public override string ToString() => Kind == "global" ? "global" : $"{Kind}:{Value}";
}
