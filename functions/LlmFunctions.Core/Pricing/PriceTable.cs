using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Pricing;

/// <summary>
/// Built-in prices (<c>prices.json</c>) overlaid with <see cref="PricingOptions"/>. Lookup order:
/// exact name, then a dated snapshot reduced to its base (<c>gpt-4.1-2025-04-14</c> → <c>gpt-4.1</c>);
/// case-insensitive; an optional <c>provider/</c> prefix is ignored. No match means "unpriced", never a guess.
/// </summary>
internal sealed class PriceTable
{
    private readonly FrozenDictionary<string, ModelPrice> _prices;
    private readonly bool _refuseUnpriced;

    public PriceTable(IOptions<PricingOptions> options)
    {
        _refuseUnpriced = options.Value.RefuseUnpriced;
        var prices = LoadBuiltIn();
        foreach (var (key, o) in options.Value.Models)
        {
            var model = string.IsNullOrWhiteSpace(o.Model) ? key : o.Model.Trim();
            prices.TryGetValue(model, out var builtIn);
            var input = o.Input ?? builtIn?.Input
                ?? throw new OptionsValidationException(PricingOptions.SectionName, typeof(PricingOptions),
                    [$"Pricing__Models__{key}__Input is required for a model without a built-in price."]);
            var output = o.Output ?? builtIn?.Output
                ?? throw new OptionsValidationException(PricingOptions.SectionName, typeof(PricingOptions),
                    [$"Pricing__Models__{key}__Output is required for a model without a built-in price."]);
            var cached = o.CachedInput ?? builtIn?.CachedInput ?? input;
            var cacheWrite = o.CacheWrite ?? builtIn?.CacheWrite;
            var cacheWrite1h = o.CacheWrite1h ?? builtIn?.CacheWrite1h;
            if (input < 0 || output < 0 || cached < 0 || cacheWrite < 0 || cacheWrite1h < 0)
            {
                throw new OptionsValidationException(PricingOptions.SectionName, typeof(PricingOptions),
                    [$"Pricing__Models__{key}: prices must not be negative."]);
            }

            // A built-in long-context tier stays only while the base prices it belongs with do.
            var keepsTier = o.Input is null && o.Output is null && o.CachedInput is null && o.CacheWrite is null && o.CacheWrite1h is null;
            prices[model] = new ModelPrice(input, cached, output, cacheWrite, keepsTier ? builtIn?.LongContext : null, cacheWrite1h);
        }

        _prices = prices.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
    }

    public int Count => _prices.Count;

    /// <summary>Whether a call to <paramref name="model"/> is refused: it has no price and <c>Pricing__RefuseUnpriced</c> is on.</summary>
    public bool Refuses(string model) => _refuseUnpriced && !TryGetPrice(model, out _);

    public bool TryGetPrice(string? model, out ModelPrice price)
    {
        price = null!;
        if (string.IsNullOrWhiteSpace(model))
        {
            return false;
        }

        var name = model.AsSpan().Trim();
        var slash = name.LastIndexOf('/');
        if (slash >= 0)
        {
            name = name[(slash + 1)..];
        }

        var lookup = _prices.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(name, out price!))
        {
            return true;
        }

        var baseName = StripSnapshot(name);
        return baseName.Length != name.Length && lookup.TryGetValue(baseName, out price!);
    }

    /// <summary>
    /// The one name a model is priced, budgeted, labelled and reported under, whatever spelling the client used: no
    /// <c>provider/</c> prefix, lower case, and a dated snapshot reduced to its base (<c>openai/GPT-4.1-2025-04-14</c> is
    /// <c>gpt-4.1</c>) unless the snapshot has a price of its own. The same rules as <see cref="TryGetPrice"/>, so a
    /// model's canonical name always has the model's price.
    /// </summary>
    public string Canonical(string model)
    {
        var name = model.AsSpan().Trim();
        var slash = name.LastIndexOf('/');
        if (slash >= 0 && slash < name.Length - 1)
        {
            name = name[(slash + 1)..];
        }

        if (_prices.GetAlternateLookup<ReadOnlySpan<char>>().ContainsKey(name))
        {
            return name.ToString().ToLowerInvariant();
        }

        return StripSnapshot(name).ToString().ToLowerInvariant();
    }

    /// <summary>Removes a dated snapshot suffix: <c>-2025-04-14</c>, <c>-20250414</c> or <c>-0414</c>.</summary>
    internal static ReadOnlySpan<char> StripSnapshot(ReadOnlySpan<char> name)
    {
        // -YYYY-MM-DD
        if (name.Length > 11 && name[^11] == '-' && name[^6] == '-' && name[^3] == '-'
            && AllDigits(name[^10..^6]) && AllDigits(name[^5..^3]) && AllDigits(name[^2..]))
        {
            return name[..^11];
        }

        // -YYYYMMDD
        if (name.Length > 9 && name[^9] == '-' && AllDigits(name[^8..]))
        {
            return name[..^9];
        }

        // -MMDD (OpenAI's older snapshots such as gpt-4-0613)
        if (name.Length > 5 && name[^5] == '-' && AllDigits(name[^4..]))
        {
            return name[..^5];
        }

        return name;

        static bool AllDigits(ReadOnlySpan<char> s)
        {
            foreach (var c in s)
            {
                if (!char.IsAsciiDigit(c))
                {
                    return false;
                }
            }

            return true;
        }
    }

    private static Dictionary<string, ModelPrice> LoadBuiltIn()
    {
        using var stream = typeof(PriceTable).Assembly.GetManifestResourceStream("LlmFunctions.Core.prices.json")
            ?? throw new InvalidOperationException("The built-in price table is missing from the assembly.");
        using var doc = JsonDocument.Parse(stream);
        var result = new Dictionary<string, ModelPrice>(StringComparer.OrdinalIgnoreCase);
        foreach (var model in doc.RootElement.GetProperty("models").EnumerateObject())
        {
            var price = Read(model.Value);
            result[model.Name] = model.Value.TryGetProperty("longContext", out var tier)
                ? price with { LongContext = new LongContextTier(tier.GetProperty("above").GetInt64(), Read(tier)) }
                : price;
        }

        return result;

        static ModelPrice Read(JsonElement e)
        {
            var input = e.GetProperty("input").GetDecimal();
            return new ModelPrice(
                input,
                e.TryGetProperty("cachedInput", out var c) ? c.GetDecimal() : input,
                e.GetProperty("output").GetDecimal(),
                e.TryGetProperty("cacheWrite", out var w) ? w.GetDecimal() : null,
                CacheWrite1h: e.TryGetProperty("cacheWrite1h", out var h) ? h.GetDecimal() : null);
        }
    }

    internal static string Format(decimal usd) => usd.ToString("0.##########", CultureInfo.InvariantCulture);
}
