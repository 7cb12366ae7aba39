using LlmFunctions.Core.Http;
using LlmFunctions.Core.Pricing;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Proxy;

/// <summary>Start-up checks of <c>Upstream__*</c> and <c>Upstreams__*</c>, each failure naming the key.</summary>
internal sealed class UpstreamsValidator(IOptions<Dictionary<string, UpstreamEntryOptions>> upstreams) : IValidateOptions<UpstreamOptions>
{
    public ValidateOptionsResult Validate(string? name, UpstreamOptions options)
    {
        var errors = new List<string>();
        var entries = upstreams.Value;
        ValidateDefault(errors, options, hasEntries: entries.Count > 0);

        // Exact model names (not prefixes) and the upstreams that list them: a name two of them list must be weighted.
        var claims = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);
        foreach (var (upstream, u) in entries)
        {
            foreach (var m in ValidateEntry(errors, $"Upstreams__{upstream}", u).Where(m => !m.IsPrefix))
            {
                (claims.TryGetValue(m.Text, out var claimants) ? claimants : claims[m.Text] = []).Add(upstream);
            }
        }

        foreach (var (model, claimants) in claims.Where(e => e.Value.Count > 1))
        {
            var unweighted = claimants.Where(c => entries[c].Weight is null).ToList();
            if (unweighted.Count > 0)
            {
                errors.Add($"Model '{model}' is claimed by upstreams {string.Join(", ", claimants)}: set "
                    + string.Join(", ", unweighted.Select(c => $"Upstreams__{c}__Weight")) + " to share it, or list it on one of them only.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>The single upstream of <c>Upstream__*</c> (required when no <c>Upstreams__*</c> is set) and the fallback models.</summary>
    private static void ValidateDefault(List<string> errors, UpstreamOptions options, bool hasEntries)
    {
        if (string.IsNullOrWhiteSpace(options.BaseUrl))
        {
            if (!hasEntries)
            {
                errors.Add("Upstream__BaseUrl is required (for example https://api.holysheep.ai/v1).");
            }
        }
        else
        {
            CheckUrl(errors, "Upstream__BaseUrl", options.BaseUrl);
            if (string.IsNullOrWhiteSpace(options.ApiKey))
            {
                errors.Add("Upstream__ApiKey is required.");
            }
        }

        if (ModelPairs.TryParseFallbacks(options.FallbackModels, out _) is { } badFallback)
        {
            errors.Add($"Upstream__FallbackModels: '{badFallback}' is not model=fallback with two different models.");
        }
    }

    /// <summary>The checks of one <c>Upstreams__*</c> entry, <paramref name="key"/> being its prefix; returns the models it lists.</summary>
    private static List<ModelPattern> ValidateEntry(List<string> errors, string key, UpstreamEntryOptions u)
    {
        if (string.IsNullOrWhiteSpace(u.BaseUrl))
        {
            errors.Add($"{key}__BaseUrl is required.");
        }
        else
        {
            CheckUrl(errors, key + "__BaseUrl", u.BaseUrl);
        }

        var azure = string.Equals(u.Kind, UpstreamKinds.AzureOpenAI, StringComparison.OrdinalIgnoreCase);
        var onAzure = azure || string.Equals(u.Kind, UpstreamKinds.AzureAnthropic, StringComparison.OrdinalIgnoreCase);
        if (!UpstreamKinds.IsKnown(u.Kind))
        {
            errors.Add($"{key}__Kind '{u.Kind}' is not known; use {UpstreamKinds.OpenAI} (any OpenAI-compatible base URL), "
                + $"{UpstreamKinds.AzureOpenAI}, {UpstreamKinds.Anthropic} (Anthropic's Messages API) or {UpstreamKinds.AzureAnthropic} "
                + "(Claude on Azure AI Foundry).");
        }
        else if (!onAzure && string.IsNullOrWhiteSpace(u.ApiKey))
        {
            errors.Add($"{key}__ApiKey is required (only {UpstreamKinds.AzureOpenAI} and {UpstreamKinds.AzureAnthropic} can use the "
                + "managed identity instead).");
        }

        if (!azure && (u.ApiVersion.Length > 0 || u.Deployments.Length > 0))
        {
            errors.Add($"{key}__ApiVersion and {key}__Deployments apply to Kind {UpstreamKinds.AzureOpenAI} only.");
        }

        if (ModelPairs.TryParseDeployments(u.Deployments, out _) is { } badPair)
        {
            errors.Add($"{key}__Deployments: '{badPair}' is not model=deployment.");
        }

        var models = ModelPattern.ParseList(u.Models);
        if (models.Count == 0)
        {
            errors.Add($"{key}__Models is required: model names or prefixes ending in *, comma-separated (for example gpt-4o,claude-*).");
        }

        if (u.Weight is < 1 or > 1000)
        {
            errors.Add($"{key}__Weight must be a whole number between 1 and 1000.");
        }

        return models;
    }

    private static void CheckUrl(List<string> errors, string key, string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || (u.Scheme != Uri.UriSchemeHttps && u.Scheme != Uri.UriSchemeHttp))
        {
            errors.Add($"{key} must be an absolute http(s) URL.");
        }
    }
}

/// <summary>A model name an upstream serves, or a prefix (<c>gpt-*</c>).</summary>
internal readonly record struct ModelPattern(string Text, bool IsPrefix)
{
    public static List<ModelPattern> ParseList(string list) =>
    [
        .. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => p.EndsWith('*') ? new ModelPattern(p[..^1], IsPrefix: true) : new ModelPattern(p, IsPrefix: false)),
    ];

    /// <summary>How well it matches a model: 0 not at all; exact names beat prefixes, longer prefixes beat shorter.</summary>
    public int Rank(string model) => IsPrefix
        ? model.StartsWith(Text, StringComparison.OrdinalIgnoreCase) ? 1 + Text.Length : 0
        : string.Equals(model, Text, StringComparison.OrdinalIgnoreCase) ? int.MaxValue : 0;
}
