using LlmFunctions.Core;
using LlmFunctions.Core.Proxy;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Tests.Proxy;

public sealed class EndpointPolicyTests
{
    private static EndpointPolicy Policy(string shared = "") => new(Options.Create(new ProxyOptions { UnmeteredSharedPaths = shared }));

    [Theory]
    [InlineData("POST", "chat/completions", 0)]
    [InlineData("POST", "completions", 0)]
    [InlineData("POST", "responses", 0)]
    [InlineData("POST", "embeddings", 0)]
    [InlineData("GET", "models", 0)]
    [InlineData("GET", "models/gpt-4.1", 0)]
    [InlineData("GET", "models/a/b", 404)]
    [InlineData("GET", "chat/completions", 405)]
    [InlineData("HEAD", "models", 405)]
    [InlineData("GET", "responses/resp_1", 404)]
    [InlineData("POST", "responses/resp_1/cancel", 404)]
    [InlineData("POST", "audio/speech", 404)]
    [InlineData("POST", "fine_tuning/jobs", 404)]
    [InlineData("GET", "files", 404)]
    public void ByDefault_OnlyMeteredCallsAndTheModelListGoUpstream(string method, string path, int status) =>
        Assert.Equal(status, Policy().Check(method, path).Failure?.Status ?? 0);

    [Fact]
    public void SharedPaths_OpenThePathAndWhatIsUnderIt_NotALookalike()
    {
        var policy = Policy("files,images/generations");
        Assert.Null(policy.Check("DELETE", "files/file-1").Failure);
        Assert.Null(policy.Check("GET", "files").Failure);
        Assert.Null(policy.Check("POST", "images/generations").Failure);
        Assert.Equal(404, policy.Check("GET", "filesystem").Failure?.Status);
        Assert.Equal(404, policy.Check("POST", "images/edits").Failure?.Status);
    }

    [Theory]
    [InlineData("chat/completions", "", "metered or served already")]
    [InlineData("../admin", "", "not a plain path")]
    [InlineData("", "OpenAI-Organization", "never are")]
    [InlineData("", "x-api-key", "never are")]
    [InlineData("", "bad header", "never are")]
    public void BadSettings_AreRefusedAtStart_NamingTheKey(string paths, string headers, string message)
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Settings.Resolve<ProxyOptions>(new()
        {
            ["Proxy:UnmeteredSharedPaths"] = paths,
            ["Proxy:ForwardedRequestHeaders"] = headers,
        }));
        Assert.Contains(ex.Failures, e => e.Contains(message, StringComparison.Ordinal) && e.StartsWith("Proxy__", StringComparison.Ordinal));
    }
}
