using System.Security.Cryptography;
using System.Text;
using LlmFunctions.Core;
using LlmFunctions.Core.Security;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Tests.Proxy;

public sealed class ClientAuthenticatorTests
{
    private static ClientAuthenticator Create() => new(Options.Create(new Dictionary<string, ClientOptions>
    {
        ["alpha"] = new() { Key = "sk-alpha" },
        ["beta"] = new() { KeySha256 = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes("sk-beta"))).ToLowerInvariant() },
    }));

    [Theory]
    [InlineData("Bearer sk-alpha", "alpha")]
    [InlineData("bearer sk-beta", "beta")]
    [InlineData("Bearer  sk-alpha ", "alpha")]
    [InlineData("Bearer sk-alph", null)]
    [InlineData("Basic sk-alpha", null)]
    [InlineData("sk-alpha", null)]
    [InlineData("Bearer ", null)]
    [InlineData(null, null)]
    public void Authenticate_FindsTheClientByKeyOrHash(string? header, string? expected) => Assert.Equal(expected, Create().Authenticate(header));

    [Fact]
    public void Authenticate_VeryLongHeader_IsRefused() => Assert.Null(Create().Authenticate("Bearer " + new string('a', 100_000)));
}
