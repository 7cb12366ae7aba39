using Microsoft.AspNetCore.Http;
using Polly;
using Polly.CircuitBreaker;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// One configured upstream: where calls go, the key they carry, the models it serves, and its circuit breaker, which
/// keeps it out of the routes of models another upstream also serves while it keeps failing.
/// </summary>
internal sealed class Upstream
{
    /// <summary>The name of the upstream configured by <c>Upstream__*</c>.</summary>
    public const string DefaultName = "default";

    private readonly List<ModelPattern> _models;
    private readonly CircuitBreakerStateProvider _state = new();

    public Upstream(string name, string baseUrl, string apiKey, string models, int weight, TimeProvider time)
    {
        Name = name;
        BaseUri = new Uri(baseUrl.TrimEnd('/') + "/", UriKind.Absolute);
        Authorization = "Bearer " + apiKey;
        _models = ModelPattern.ParseList(models);
        Weight = weight;
        Breaker = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                // Half the calls failing, over at least 5 in 30 s, keeps it out for 30 s; then one trial call.
                FailureRatio = 0.5,
                MinimumThroughput = 5,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = TimeSpan.FromSeconds(30),
                ShouldHandle = args => ValueTask.FromResult(UpstreamClient.ShouldFallBack(args.Outcome)),
                StateProvider = _state,
            })
            .Build();
    }

    public string Name { get; }

    public Uri BaseUri { get; }

    /// <summary>The <c>Authorization</c> header value; a secret.</summary>
    public string Authorization { get; }

    public int Weight { get; }

    public bool IsDefault => Name == DefaultName;

    public ResiliencePipeline<HttpResponseMessage> Breaker { get; }

    /// <summary>Its breaker is open: recent calls mostly failed.</summary>
    public bool IsOut => _state.CircuitState is CircuitState.Open or CircuitState.Isolated;

    /// <summary>How well it serves a model (0: not at all); the default upstream serves every model, least well.</summary>
    public int Rank(string model) => IsDefault ? 0 : _models.Count == 0 ? 0 : _models.Max(m => m.Rank(model));

    /// <summary>The upstream URI for a validated <c>/v1</c>-relative path; null if it would leave the base.</summary>
    public Uri? TargetFor(string relativePath, QueryString query) => TargetUnder(BaseUri, relativePath, query);

    internal static Uri? TargetUnder(Uri baseUri, string relativePath, QueryString query)
    {
        var target = new Uri(baseUri, relativePath + query.Value);
        return target.Scheme == baseUri.Scheme
            && target.Authority == baseUri.Authority
            && target.AbsolutePath.StartsWith(baseUri.AbsolutePath, StringComparison.Ordinal)
            ? target
            : null;
    }
}
