using LlmFunctions.Core.Http;

namespace LlmFunctions.Core.Pricing;

/// <summary>
/// A setting of <c>name=value</c> pairs, comma-separated (<c>Upstream__FallbackModels</c>,
/// <c>Upstreams__&lt;name&gt;__Deployments</c>); names compare without case.
/// </summary>
internal static class ModelPairs
{
    /// <summary>
    /// Parses the pairs into <paramref name="map"/>; returns the first pair that is malformed or that
    /// <paramref name="isValid"/> refuses, or null when all are good.
    /// </summary>
    public static string? TryParse(string text, Func<string, string, bool> isValid, out Dictionary<string, string> map)
    {
        map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var pair in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = pair.Split('=', StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0 || !isValid(parts[0], parts[1]))
            {
                return pair;
            }

            map[parts[0]] = parts[1];
        }

        return null;
    }

    /// <summary><c>Upstreams__&lt;name&gt;__Deployments</c>: a deployment is one plain path segment.</summary>
    public static string? TryParseDeployments(string text, out Dictionary<string, string> map) =>
        TryParse(text, static (_, deployment) => Endpoints.IsSafePath(deployment) && !deployment.Contains('/'), out map);

    /// <summary><c>Upstream__FallbackModels</c>: a model falls back to another.</summary>
    public static string? TryParseFallbacks(string text, out Dictionary<string, string> map) =>
        TryParse(text, static (model, fallback) => !string.Equals(model, fallback, StringComparison.OrdinalIgnoreCase), out map);
}
