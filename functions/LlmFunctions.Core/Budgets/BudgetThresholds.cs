using System.Globalization;

namespace LlmFunctions.Core.Budgets;

internal static class BudgetThresholds
{
    /// <summary>Parses <c>50,80,100</c>; null when invalid.</summary>
    public static int[]? Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return [50, 80, 100];
        }

        var result = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var p) || p is < 1 or > 1000)
            {
                return null;
            }

            result.Add(p);
        }

        return result.Count == 0 ? null : [.. result.Distinct().Order()];
    }
}
