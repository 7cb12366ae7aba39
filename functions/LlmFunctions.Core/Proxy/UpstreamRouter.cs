using LlmFunctions.Core.Http;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Which upstreams serve a model, in the order to try them: those naming it exactly, then those whose prefix matches
/// (longer first), then the default upstream; upstreams that serve it equally well take turns by weight, the others
/// of their rank are the fallbacks. An upstream whose breaker is open goes last.
/// </summary>
internal sealed class UpstreamRouter
{
    private readonly List<Upstream> _upstreams = [];

    public UpstreamRouter(IOptions<UpstreamOptions> defaults, IOptions<Dictionary<string, UpstreamEntryOptions>> entries, TimeProvider time,
        AzureTokenSource? tokens = null)
    {
        foreach (var (name, u) in entries.Value.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            _upstreams.Add(new Upstream(name, u, time, tokens));
        }

        if (!string.IsNullOrWhiteSpace(defaults.Value.BaseUrl))
        {
            var d = defaults.Value;
            Default = new Upstream(Upstream.DefaultName, new UpstreamEntryOptions { BaseUrl = d.BaseUrl, ApiKey = d.ApiKey }, time);
            _upstreams.Add(Default);
        }
    }

    public IReadOnlyList<Upstream> All => _upstreams;

    /// <summary>The upstream configured by <c>Upstream__*</c>, if any.</summary>
    public Upstream? Default { get; }

    /// <summary>
    /// The upstreams to try for a call, best first; empty when none serves the model. A call without a model (listing
    /// models, files) goes to the default upstream, else to the first configured. Only upstreams that speak the call's
    /// API (<paramref name="dialect"/>) are in it: an OpenAI upstream never gets <c>/v1/messages</c>, nor an Anthropic
    /// one <c>/v1/chat/completions</c>; the default upstream is an OpenAI one.
    /// </summary>
    public IReadOnlyList<Upstream> Route(string? model, ApiDialect dialect = ApiDialect.OpenAI)
    {
        var fallback = dialect == ApiDialect.OpenAI ? Default : null;
        if (string.IsNullOrEmpty(model))
        {
            var pick = fallback ?? _upstreams.FirstOrDefault(u => u.Dialect == dialect);
            return pick is null ? [] : [pick];
        }

        // Each upstream's rank once (this runs on every call); with only the default upstream, none ranks.
        var ranked = new List<(Upstream Upstream, int Rank)>();
        foreach (var u in _upstreams)
        {
            if (u.Dialect == dialect && u.Rank(model) is > 0 and var rank)
            {
                ranked.Add((u, rank));
            }
        }

        var route = new List<Upstream>(_upstreams.Count);
        foreach (var tier in ranked.GroupBy(r => r.Rank).OrderByDescending(g => g.Key))
        {
            AddByWeight(route, [.. tier.Select(r => r.Upstream)]);
        }

        if (fallback is not null)
        {
            route.Add(fallback);
        }

        if (route.Count > 1 && route.Any(u => u.IsOut) && !route.All(u => u.IsOut))
        {
            route = [.. route.Where(u => !u.IsOut), .. route.Where(u => u.IsOut)];
        }

        return route;
    }

    /// <summary>Adds upstreams of one rank in a random order weighted by <see cref="Upstream.Weight"/>.</summary>
    private static void AddByWeight(List<Upstream> route, List<Upstream> tier)
    {
        while (tier.Count > 0)
        {
            var pick = Random.Shared.Next(tier.Sum(u => u.Weight));
            var i = 0;
            while (pick >= tier[i].Weight)
            {
                pick -= tier[i].Weight;
                i++;
            }

            route.Add(tier[i]);
            tier.RemoveAt(i);
        }
    }
}
