using LlmFunctions.Core;
using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Proxy;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Tests.Proxy;

/// <summary>Which upstreams serve a model and in what order; which configurations stop start-up, naming the key.</summary>
public sealed class UpstreamRoutingTests
{
    [Fact]
    public void ExactNamesComeFirst_ThenLongerPrefixes_ThenTheDefault()
    {
        var router = Router(new()
        {
            ["broad"] = Entry("gpt-*"),
            ["narrow"] = Entry("gpt-4o-*"),
            ["exact"] = Entry("gpt-4o-mini, o3"),
        });

        Assert.Equal(["exact", "narrow", "broad", "default"], router.Route("gpt-4o-mini").Select(u => u.Name));
        Assert.Equal(["narrow", "broad", "default"], router.Route("GPT-4o-2024-08-06").Select(u => u.Name));
        Assert.Equal(["exact", "default"], router.Route("o3").Select(u => u.Name));
        Assert.Equal(["default"], router.Route("claude-3").Select(u => u.Name));
        Assert.Equal(["default"], router.Route(null).Select(u => u.Name));
    }

    [Fact]
    public void UpstreamsSharingAModel_TakeTurnsByWeight_AndAreEachOthersFallback()
    {
        var router = Router(new() { ["a"] = Entry("m", weight: 3), ["b"] = Entry("m", weight: 1) }, withDefault: false);

        var first = Enumerable.Range(0, 4000).Select(_ => router.Route("m")).ToList();
        Assert.All(first, r => Assert.Equal(["a", "b"], r.Select(u => u.Name).Order()));
        var shareOfA = first.Count(r => r[0].Name == "a") / 4000.0;
        Assert.InRange(shareOfA, 0.70, 0.80);
        Assert.Empty(router.Route("other"));
    }

    [Theory]
    [InlineData("BaseUrl", "", "Upstreams__x__BaseUrl is required.")]
    [InlineData("BaseUrl", "ftp://example.com/v1", "Upstreams__x__BaseUrl must be an absolute http(s) URL.")]
    [InlineData("ApiKey", "", "Upstreams__x__ApiKey is required")]
    [InlineData("Kind", "bedrock", "Upstreams__x__Kind 'bedrock' is not known")]
    [InlineData("Models", " , ", "Upstreams__x__Models is required")]
    [InlineData("Weight", "0", "Upstreams__x__Weight must be a whole number between 1 and 1000.")]
    public void ABadUpstream_StopsStartUp_NamingTheKey(string property, string value, string message)
    {
        var entry = Entry("gpt-4o");
        object parsed = property == "Weight" ? int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : value;
        typeof(UpstreamEntryOptions).GetProperty(property)!.SetValue(entry, parsed);

        var result = Validate(new() { ["x"] = entry });

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.StartsWith(message, StringComparison.Ordinal));
    }

    [Fact]
    public void AzureUpstreams_MayGoWithoutAKey_TakeDeploymentPairs_AndOnlyTheyTakeAnApiVersion()
    {
        var azure = new UpstreamEntryOptions
        {
            Kind = "azure-openai", BaseUrl = "https://contoso.openai.azure.com", Models = "gpt-4o", ApiVersion = "2024-10-21", Deployments = "gpt-4o=prod",
        };
        Assert.True(Validate(new() { ["a"] = azure }).Succeeded);

        var badPair = Validate(new()
        {
            ["a"] = new UpstreamEntryOptions { Kind = "azure-openai", BaseUrl = "https://x", Models = "m", Deployments = "m=../x" },
        });
        Assert.Contains("Upstreams__a__Deployments: 'm=../x' is not model=deployment.", badPair.Failures!);

        var openAiWithVersion = Validate(new() { ["o"] = new UpstreamEntryOptions { BaseUrl = "https://x", ApiKey = "k", Models = "m", ApiVersion = "1" } });
        Assert.Contains("Upstreams__o__ApiVersion and Upstreams__o__Deployments apply to Kind azure-openai only.", openAiWithVersion.Failures!);
    }

    [Fact]
    public void AnAzureDeploymentsUpstream_BuildsTheDeploymentUrl_AndServesNoModelThatCannotNameADeployment()
    {
        var upstream = new Upstream("aoai", new UpstreamEntryOptions
        {
            Kind = "azure-openai", BaseUrl = "https://contoso.openai.azure.com", ApiKey = "k", Models = "gpt-*", ApiVersion = "2024-10-21",
            Deployments = "gpt-4o=prod-4o",
        }, TimeProvider.System);

        Assert.Equal("https://contoso.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21",
            upstream.TargetFor("chat/completions", QueryString.Empty, "gpt-4o")!.ToString());
        Assert.Equal("https://contoso.openai.azure.com/openai/deployments/gpt-4.1/embeddings?x=1&api-version=2024-10-21",
            upstream.TargetFor("embeddings", new QueryString("?x=1"), "gpt-4.1")!.ToString());
        Assert.True(upstream.Rank("gpt-4.1") > 0);
        Assert.Equal(0, upstream.Rank("gpt-../../x"));
        Assert.Equal(0, upstream.Rank("gpt-a/b"));
    }

    [Fact]
    public void AnthropicKinds_ServeOnlyMessagesCalls_AndOpenAIKindsNeverDo()
    {
        var router = Router(new()
        {
            ["claude"] = new UpstreamEntryOptions { Kind = "anthropic", BaseUrl = "https://api.anthropic.com", ApiKey = "k", Models = "claude-*" },
            ["foundry"] = new UpstreamEntryOptions { Kind = "azure-anthropic", BaseUrl = "https://r.services.ai.azure.com/anthropic", ApiKey = "k",
                Models = "claude-opus-4-6" },
            ["gateway"] = Entry("claude-*"),
        });

        Assert.Equal(["foundry", "claude"], router.Route("claude-opus-4-6", Core.Http.ApiDialect.Anthropic).Select(u => u.Name));
        Assert.Equal(["gateway", "default"], router.Route("claude-opus-4-6").Select(u => u.Name));
        Assert.Empty(router.Route("gpt-4.1", Core.Http.ApiDialect.Anthropic));
    }

    [Theory]
    [InlineData("anthropic", "https://api.anthropic.com", "https://api.anthropic.com/v1/messages", "x-api-key", "k")]
    [InlineData("anthropic", "https://api.anthropic.com/v1/", "https://api.anthropic.com/v1/messages", "x-api-key", "k")]
    [InlineData("azure-anthropic", "https://r.services.ai.azure.com/anthropic", "https://r.services.ai.azure.com/anthropic/v1/messages", "api-key", "k")]
    public async Task AnAnthropicUpstream_AddsV1_DropsTheSdksBetaQuery_AndSendsItsKeyItsWay(string kind, string baseUrl, string target, string header,
        string value)
    {
        var upstream = new Upstream("u", new UpstreamEntryOptions { Kind = kind, BaseUrl = baseUrl, ApiKey = "k", Models = "claude-*" }, TimeProvider.System);

        Assert.Equal(target, upstream.TargetFor("messages", new QueryString("?beta=true"), "claude-haiku-4-5")!.ToString());
        Assert.Equal((header, value), await upstream.AuthorizationAsync(CancellationToken.None));
    }

    [Fact]
    public void AnthropicKinds_Validate_TheAnthropicOneNeedsAKey_TheFoundryOneMayUseTheIdentity()
    {
        Assert.True(Validate(new() { ["f"] = new UpstreamEntryOptions { Kind = "azure-anthropic", BaseUrl = "https://r.services.ai.azure.com/anthropic",
            Models = "claude-*" } }).Succeeded);
        var keyless = Validate(new() { ["a"] = new UpstreamEntryOptions { Kind = "anthropic", BaseUrl = "https://api.anthropic.com", Models = "claude-*" } });
        Assert.Contains(keyless.Failures!, f => f.StartsWith("Upstreams__a__ApiKey is required", StringComparison.Ordinal));
    }

    [Fact]
    public void TwoUpstreamsClaimingOneExactModel_WithoutWeights_StopStartUp_NamingTheKeys()
    {
        var result = Validate(new() { ["a"] = Entry("gpt-4o"), ["b"] = Entry("gpt-4o, o3") });

        Assert.True(result.Failed);
        var failure = Assert.Single(result.Failures!);
        Assert.Contains("Model 'gpt-4o' is claimed by upstreams a, b", failure, StringComparison.Ordinal);
        Assert.Contains("Upstreams__a__Weight, Upstreams__b__Weight", failure, StringComparison.Ordinal);

        Assert.True(Validate(new() { ["a"] = Entry("gpt-4o", weight: 1), ["b"] = Entry("gpt-4o", weight: 2) }).Succeeded);
        Assert.True(Validate(new() { ["a"] = Entry("gpt-*"), ["b"] = Entry("gpt-4o-*") }).Succeeded);
    }

    [Theory]
    [InlineData("gpt-4o", "Upstream__FallbackModels: 'gpt-4o' is not model=fallback with two different models.")]
    [InlineData("gpt-4o=gpt-4o", "Upstream__FallbackModels: 'gpt-4o=gpt-4o' is not model=fallback with two different models.")]
    public void ABadFallbackModelsPair_StopsStartUp_NamingTheKey(string pairs, string message)
    {
        var result = new UpstreamsValidator(Options.Create(new Dictionary<string, UpstreamEntryOptions>()))
            .Validate(null, new UpstreamOptions { BaseUrl = "http://127.0.0.1:9/v1", ApiKey = "k", FallbackModels = pairs });

        Assert.Contains(message, result.Failures!);
    }

    [Fact]
    public void WithoutUpstreamsTheDefaultIsRequired_WithThemItIsNot()
    {
        var none = new UpstreamsValidator(Options.Create(new Dictionary<string, UpstreamEntryOptions>())).Validate(null, new UpstreamOptions());
        Assert.Contains("Upstream__BaseUrl is required (for example https://api.holysheep.ai/v1).", none.Failures!);

        var some = new UpstreamsValidator(Options.Create(new Dictionary<string, UpstreamEntryOptions> { ["x"] = Entry("gpt-4o") }))
            .Validate(null, new UpstreamOptions());
        Assert.True(some.Succeeded);
    }

    private static UpstreamEntryOptions Entry(string models, int? weight = null) =>
        new() { BaseUrl = "http://127.0.0.1:9/v1", ApiKey = "sk-test", Models = models, Weight = weight };

    private static UpstreamRouter Router(Dictionary<string, UpstreamEntryOptions> entries, bool withDefault = true) => new(
        Options.Create(withDefault ? new UpstreamOptions { BaseUrl = "http://127.0.0.1:9/v1", ApiKey = "sk-default" } : new UpstreamOptions()),
        Options.Create(entries), TimeProvider.System);

    private static ValidateOptionsResult Validate(Dictionary<string, UpstreamEntryOptions> entries) =>
        new UpstreamsValidator(Options.Create(entries)).Validate(null, new UpstreamOptions { BaseUrl = "http://127.0.0.1:9/v1", ApiKey = "sk-default" });
}
