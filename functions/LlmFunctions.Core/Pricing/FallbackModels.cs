using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Pricing;

/// <summary>
/// <c>Upstream__FallbackModels</c>, read once: the model a call moves on to when every upstream of its own failed. The
/// upstream client routes by it, and the budget enforcer prices a call's worst case at the dearer of the two.
/// </summary>
internal sealed class FallbackModels
{
    private readonly Dictionary<string, string> _map;

    public FallbackModels(IOptions<UpstreamOptions> options) =>
        ModelPairs.TryParseFallbacks(options.Value.FallbackModels, out _map); // start-up validation refused a bad pair

    /// <summary>The model <paramref name="model"/> falls back to, if any.</summary>
    public bool TryGet(string model, out string fallback) => _map.TryGetValue(model, out fallback!);
}
