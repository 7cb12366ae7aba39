using System.Text.RegularExpressions;

namespace LlmFunctions.FunctionsHost;

/// <summary>
/// Resolves <c>%Name%</c> in binding expressions from the app settings, as the host's name resolver does: through
/// configuration, so <c>%Budgets:Schedule%</c> finds the setting <c>Budgets__Schedule</c>, ignoring case.
/// </summary>
internal sealed partial class AppSettingsResolver
{
    private readonly Dictionary<string, string> _settings = new(StringComparer.OrdinalIgnoreCase);

    public AppSettingsResolver(IEnumerable<KeyValuePair<string, string>> settings)
    {
        foreach (var (key, value) in settings)
        {
            _settings[Normalize(key)] = value;
        }
    }

    /// <summary>The expression with every <c>%Name%</c> replaced, or an indexing error naming the first that is missing.</summary>
    public string Resolve(string functionName, string expression) => Token().Replace(expression, match =>
        _settings.TryGetValue(Normalize(match.Groups[1].Value), out var value) && value.Length > 0
            ? value
            : throw new FunctionIndexingException(
                $"Error indexing method 'Functions.{functionName}'. '{match.Value}' does not resolve to a value."));

    private static string Normalize(string key) => key.Replace("__", ":", StringComparison.Ordinal);

    [GeneratedRegex("%([^%]+)%")]
    private static partial Regex Token();
}
