using LlmFunctions.Core;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Proxy;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Tests.Proxy;

public sealed class EndpointsTests
{
    [Theory]
    [InlineData("chat/completions", true)]
    [InlineData("models/gpt-4.1", true)]
    [InlineData("../admin", false)]
    [InlineData("a/../../b", false)]
    [InlineData("a//b", false)]
    [InlineData("a/./b", false)]
    [InlineData("a%2F..%2Fb", false)]
    [InlineData("a\\b", false)]
    [InlineData("", false)]
    [InlineData("http://evil.example/x", false)]
    public void IsSafePath_RejectsTraversalAndOddCharacters(string path, bool safe) => Assert.Equal(safe, Endpoints.IsSafePath(path));

    [Theory]
    [InlineData("chat/completions", "", "https://api.example.com/v1/chat/completions")]
    [InlineData("models", "?limit=2", "https://api.example.com/v1/models?limit=2")]
    public void TargetFor_StaysUnderTheBase(string path, string query, string expected)
    {
        var upstream = new Upstream("default", new UpstreamEntryOptions { BaseUrl = "https://api.example.com/v1", ApiKey = "k" }, TimeProvider.System);
        Assert.Equal(expected, upstream.TargetFor(path, new QueryString(query))!.ToString());
        Assert.True(UpstreamClient.IsForwardable(path, new QueryString(query)));
    }

    [Fact]
    public void TargetFor_AnAbsoluteLookingPath_IsRefused()
    {
        var upstream = new Upstream("default", new UpstreamEntryOptions { BaseUrl = "https://api.example.com/v1", ApiKey = "k" }, TimeProvider.System);
        Assert.Null(upstream.TargetFor("//evil.example/v1/x", QueryString.Empty));
        Assert.False(UpstreamClient.IsForwardable("//evil.example/v1/x", QueryString.Empty));
    }
}
