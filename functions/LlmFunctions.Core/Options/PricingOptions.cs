namespace LlmFunctions.Core;

/// <summary>Price overrides in USD per 1M tokens (section <c>Pricing</c>), on top of the built-in table.</summary>
public sealed class PricingOptions
{
    public const string SectionName = "Pricing";

    /// <summary>
    /// <c>Pricing__Models__&lt;model&gt;__Input</c> / <c>__Output</c> / <c>__CachedInput</c> / <c>__CacheWrite</c> /
    /// <c>__CacheWrite1h</c>. Overriding any
    /// of them drops the model's built-in long-context tier (it belonged with the built-in prices).
    /// </summary>
    public Dictionary<string, ModelPriceOptions> Models { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// <c>true</c>: a metered call whose model has no price gets 400 <c>model_not_priced</c> before it is forwarded, so a
    /// typo (<c>gtp-4.1</c>) or a new model can never run unbilled. Default <c>false</c>: forwarded, recorded with
    /// <c>Priced = false</c> at $0, counted in <c>api_unpriced_requests_total{model}</c> and logged once per model.
    /// </summary>
    public bool RefuseUnpriced { get; set; }
}

/// <summary>One model's price in USD per 1M tokens.</summary>
public sealed class ModelPriceOptions
{
    /// <summary>
    /// The model name when the settings key cannot spell it: App Service setting names allow only letters, digits,
    /// <c>.</c> and <c>_</c>, so <c>gpt-4o-mini</c> is set as <c>Pricing__Models__gpt_4o_mini__Model = gpt-4o-mini</c>.
    /// Default: the key.
    /// </summary>
    public string? Model { get; set; }

    public decimal? Input { get; set; }
    public decimal? Output { get; set; }
    public decimal? CachedInput { get; set; }

    /// <summary>Tokens written to the provider's prompt cache (Anthropic: 5-minute writes); default: the built-in price, else the input price.</summary>
    public decimal? CacheWrite { get; set; }

    /// <summary>Anthropic's 1-hour prompt-cache writes; default: the built-in price, else <see cref="CacheWrite"/>.</summary>
    public decimal? CacheWrite1h { get; set; }
}
