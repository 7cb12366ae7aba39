using LlmFunctions.Core.Http;
using LlmFunctions.Core.Pricing;
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
    private readonly string _apiVersion;
    private readonly Dictionary<string, string> _deployments;
    private readonly AzureTokenSource? _tokens;
    private readonly string _authorizationHeader;
    private readonly string _authorization;
    private readonly string _tokenScope;

    public Upstream(string name, UpstreamEntryOptions options, TimeProvider time, AzureTokenSource? tokens = null)
    {
        Name = name;
        Dialect = options.Kind.Equals(UpstreamKinds.Anthropic, StringComparison.OrdinalIgnoreCase)
            || options.Kind.Equals(UpstreamKinds.AzureAnthropic, StringComparison.OrdinalIgnoreCase) ? ApiDialect.Anthropic : ApiDialect.OpenAI;
        BaseUri = new Uri(BaseUrlOf(options.BaseUrl, Dialect), UriKind.Absolute);
        _models = ModelPattern.ParseList(options.Models);
        Weight = options.Weight ?? 1;
        IsAzure = string.Equals(options.Kind, UpstreamKinds.AzureOpenAI, StringComparison.OrdinalIgnoreCase);
        var onAzure = IsAzure || string.Equals(options.Kind, UpstreamKinds.AzureAnthropic, StringComparison.OrdinalIgnoreCase);
        _apiVersion = IsAzure ? options.ApiVersion : "";
        _tokenScope = IsAzure ? AzureTokenSource.CognitiveServicesScope : AzureTokenSource.AiFoundryScope;
        ModelPairs.TryParseDeployments(options.Deployments, out _deployments);
        (_authorizationHeader, _authorization) = (onAzure, options.ApiKey.Length > 0, Dialect) switch
        {
            (false, _, ApiDialect.Anthropic) => ("x-api-key", options.ApiKey),
            (false, _, _) => ("Authorization", "Bearer " + options.ApiKey),
            (true, true, _) => ("api-key", options.ApiKey),
            (true, false, _) => ("Authorization", ""),
        };
        _tokens = onAzure && options.ApiKey.Length == 0 ? tokens ?? throw new ArgumentNullException(nameof(tokens)) : null;
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

    /// <summary>The API it speaks: a call of another never goes to it.</summary>
    public ApiDialect Dialect { get; }

    public Uri BaseUri { get; }

    public int Weight { get; }

    public bool IsDefault => Name == DefaultName;

    /// <summary>An Azure OpenAI resource (<c>Kind=azure-openai</c>).</summary>
    public bool IsAzure { get; }

    /// <summary>Authenticates with the app's managed identity (an Azure upstream without a key).</summary>
    public bool UsesManagedIdentity => _tokens is not null;

    public ResiliencePipeline<HttpResponseMessage> Breaker { get; }

    /// <summary>Its breaker is open: recent calls mostly failed.</summary>
    public bool IsOut => _state.CircuitState is CircuitState.Open or CircuitState.Isolated;

    /// <summary>
    /// How well it serves a model (0: not at all); the default upstream serves every model, least well. A model that
    /// cannot name an Azure deployment (a character a deployment name cannot have) is not served by deployments.
    /// </summary>
    public int Rank(string model)
    {
        if (IsDefault || _models.Count == 0 || (_apiVersion.Length > 0 && !IsDeploymentName(DeploymentFor(model))))
        {
            return 0;
        }

        return _models.Max(m => m.Rank(model));
    }

    /// <summary>
    /// The URI for a validated <c>/v1</c>-relative path; null if it would leave the base. Through Azure deployments, a
    /// call with a model goes to <c>openai/deployments/{deployment}/{path}</c>, one without to <c>openai/{path}</c>,
    /// each with <c>api-version</c>.
    /// </summary>
    public Uri? TargetFor(string relativePath, QueryString query, string? model = null)
    {
        if (_apiVersion.Length == 0)
        {
            // The Anthropic SDKs' ?beta=true says nothing the upstream needs (the anthropic-beta header does).
            return TargetUnder(BaseUri, relativePath, Dialect == ApiDialect.Anthropic ? QueryString.Empty : query);
        }

        var withVersion = query.Add("api-version", _apiVersion);
        return string.IsNullOrEmpty(model)
            ? TargetUnder(BaseUri, "openai/" + relativePath, withVersion)
            : TargetUnder(BaseUri, $"openai/deployments/{DeploymentFor(model)}/{relativePath}", withVersion);
    }

    /// <summary>The header that authenticates a call, and its value (a secret): the key, or a managed-identity token.</summary>
    public async ValueTask<(string Name, string Value)> AuthorizationAsync(CancellationToken cancellationToken) => _tokens is null
        ? (_authorizationHeader, _authorization)
        : ("Authorization", "Bearer " + await _tokens.GetAsync(_tokenScope, cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// The base every path is under. Anthropic's SDKs take the host without <c>/v1</c> (<c>https://api.anthropic.com</c>,
    /// <c>https://{resource}.services.ai.azure.com/anthropic</c>): an Anthropic upstream's base gets its <c>/v1</c> when it lacks it.
    /// </summary>
    private static string BaseUrlOf(string baseUrl, ApiDialect dialect)
    {
        var trimmed = baseUrl.TrimEnd('/');
        return dialect == ApiDialect.Anthropic && !trimmed.EndsWith("/v1", StringComparison.OrdinalIgnoreCase) ? trimmed + "/v1/" : trimmed + "/";
    }

    internal static Uri? TargetUnder(Uri baseUri, string relativePath, QueryString query)
    {
        var target = new Uri(baseUri, relativePath + query.Value);
        return target.Scheme == baseUri.Scheme
            && target.Authority == baseUri.Authority
            && target.AbsolutePath.StartsWith(baseUri.AbsolutePath, StringComparison.Ordinal)
            ? target
            : null;
    }

    private string DeploymentFor(string model) => _deployments.TryGetValue(model, out var deployment) ? deployment : model;

    /// <summary>Letters, digits, <c>-</c>, <c>_</c> and <c>.</c> (Azure's rule), and not a dot segment.</summary>
    private static bool IsDeploymentName(string name) =>
        name.Length is > 0 and <= 64 && name is not "." and not ".." && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
