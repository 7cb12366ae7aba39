using System.ComponentModel.DataAnnotations;

namespace LlmFunctions.Core;

/// <summary>The Prometheus endpoint and the fold behind it (section <c>Metrics</c>).</summary>
public sealed class MetricsOptions
{
    public const string SectionName = "Metrics";

    /// <summary>Bearer token a scraper must send. Without it, <c>/metrics</c> answers 401 (loopback in Development excepted).</summary>
    public string? BearerToken { get; set; }

    /// <summary>Distinct models kept as label values; later ones are counted under <c>other</c>. Default 50.</summary>
    [Range(1, 10_000)]
    public int MaxModels { get; set; } = 50;

    /// <summary>Records younger than this are not folded yet but added live at scrape time. Default 60 s.</summary>
    [Range(10, 3600)]
    public int FoldLagSeconds { get; set; } = 60;
}
