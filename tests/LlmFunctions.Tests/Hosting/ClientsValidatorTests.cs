using LlmFunctions.Core;
using LlmFunctions.Core.Hosting;

namespace LlmFunctions.Tests.Hosting;

public sealed class ClientsValidatorTests
{
    [Theory]
    [InlineData("alpha", true)]
    [InlineData("team-a.prod_1", true)]
    [InlineData("acme corp", false)] // labelled acme_corp: its key could not find its own spend, and could share another's
    [InlineData("naïve", false)]
    public void AClientName_MustBeItsOwnLabel(string name, bool valid)
    {
        var clients = new Dictionary<string, ClientOptions> { [name] = new() { Key = "sk-" + Guid.NewGuid().ToString("N") } };
        Assert.Equal(valid, ClientsValidator.Validate(clients));
    }

    [Fact]
    public void TwoClients_MayNotShareAKey()
    {
        var clients = new Dictionary<string, ClientOptions> { ["a"] = new() { Key = "sk-same" }, ["b"] = new() { Key = "sk-same" } };
        Assert.False(ClientsValidator.Validate(clients));
    }
}
