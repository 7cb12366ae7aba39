namespace LlmFunctions.Core.Budgets;

/// <summary>What a budget counts: everything, one client, or one model.</summary>
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
        if (kind is not ("client" or "model"))
        {
            return false;
        }

        scope = new BudgetScope(kind, text[(colon + 1)..]);
        return true;
    }

    /// <summary>True when a call by <paramref name="client"/> to <paramref name="model"/> counts against this scope.</summary>
    public bool Matches(string client, string model) => Kind switch
    {
        "global" => true,
        "client" => string.Equals(client, Value, StringComparison.Ordinal),
        _ => string.Equals(model, Value, StringComparison.OrdinalIgnoreCase),
    };

    public override string ToString() => Kind == "global" ? "global" : $"{Kind}:{Value}";
}
