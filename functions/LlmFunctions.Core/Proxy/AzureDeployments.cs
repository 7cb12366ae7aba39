namespace LlmFunctions.Core.Proxy;

/// <summary><c>Upstreams__&lt;name&gt;__Deployments</c>: which Azure OpenAI deployment serves a model.</summary>
internal static class AzureDeployments
{
    /// <summary>Parses <c>model=deployment</c> pairs; returns the first malformed pair, or null when all are well formed.</summary>
    public static string? TryParse(string text, out Dictionary<string, string> map)
    {
        map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var pair in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = pair.Split('=', StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0 || !Endpoints.IsSafePath(parts[1]) || parts[1].Contains('/'))
            {
                return pair;
            }

            map[parts[0]] = parts[1];
        }

        return null;
    }
}
