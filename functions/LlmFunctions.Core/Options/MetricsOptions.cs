using System.ComponentModel.DataAnnotations;

namespace LlmFunctions.Core;

/// <summary>The Prometheus endpoint and the fold behind it (section <c>Metrics</c>).</summary>
public sealed class MetricsOptions
{
    public const string SectionName = "Metrics";

    /// <summary>
    /// Bearer token a scraper must send. Without it, <c>/metrics</c> answers 401 (loopback in Development excepted). At
    /// most 1,024 characters (<c>MetricsOptionsValidator</c>): a longer bearer value is never read.
    /// </summary>
    public string? BearerToken { get; set; }

    /// <summary>Distinct models kept as label values; later ones are counted under <c>other</c>. Default 50.</summary>
    [Range(1, 10_000)]
    public int MaxModels { get; set; } = 50;

    /// <summary>Records younger than this are not folded yet but added live at scrape time. Default 60 s.</summary>
    [Range(10, 3600)]
    public int FoldLagSeconds { get; set; } = 60;

    /// <summary>Tags (comma-separated) that get their own series in <c>api_requests_by_tag_total</c> and
    /// <c>api_cost_by_tag_total</c>. Only these: tags come from clients, and labels must stay bounded. Default none.</summary>
    [RegularExpression("^[A-Za-z0-9_.:,-]{0,2000}$", ErrorMessage = "Metrics__Tags is a comma-separated list of tags (letters, digits, '-', '_', '.', ':').")]
    public string? Tags { get; set; }

    /// <summary>The tags of <see cref="Tags"/>.</summary>
    internal IReadOnlySet<string> TagSet() =>
        (Tags ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
}
