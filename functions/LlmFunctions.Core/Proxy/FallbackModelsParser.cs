namespace LlmFunctions.Core.Proxy;

/// <summary><c>Upstream__FallbackModels</c>: the model a call moves to when every upstream of its own failed.</summary>
internal static class FallbackModelsParser
{
    /// <summary>Parses <c>model=fallback</c> pairs; returns the first malformed pair, or null when all are well formed.</summary>
    public static string? TryParse(string text, out Dictionary<string, string> map)
    {
        map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var pair in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = pair.Split('=', StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0 || string.Equals(parts[0], parts[1], StringComparison.OrdinalIgnoreCase))
            {
                return pair;
            }

            map[parts[0]] = parts[1];
        }

        return null;
    }
}
