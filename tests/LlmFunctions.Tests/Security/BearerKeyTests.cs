using System.Security.Cryptography;
using System.Text;
using LlmFunctions.Core;
using LlmFunctions.Core.Security;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Tests.Security;

/// <summary>The one reader of bearer values (client keys, the admin key, the scrape token), with what a caller may send.</summary>
public sealed class BearerKeyTests
{
    [Theory]
    [InlineData("Bearer sk-abc", "sk-abc")]
    [InlineData("bearer sk-abc", "sk-abc")]     // the scheme is case-insensitive
    [InlineData("Bearer   sk-abc  ", "sk-abc")] // spaces around the key are not part of it
    [InlineData("Bearer sk-ключ-🙂", "sk-ключ-🙂")] // hashed as UTF-8
    public void AKey_IsReadAndHashed(string authorization, string key)
    {
        var hash = new byte[SHA256.HashSizeInBytes];

        Assert.True(BearerKey.TryHash(authorization, hash));
        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(key)), hash);
        Assert.True(BearerKey.Matches(authorization, BearerKey.HashOf(key)));
        Assert.False(BearerKey.Matches(authorization, BearerKey.HashOf(key + "x")));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Bearer")]
    [InlineData("Bearer    ")]
    [InlineData("Basic c2stYWJj")]
    [InlineData("sk-abc")]
    [InlineData("Bearersk-abc")]
    public void NoKey_IsNoMatch(string? authorization)
    {
        Assert.False(BearerKey.TryHash(authorization, new byte[SHA256.HashSizeInBytes]));
        Assert.False(BearerKey.Matches(authorization, BearerKey.HashOf("")));
    }

    [Fact]
    public void AKeyLongerThan1024Characters_IsNoKey_AndNoScrapeTokenMayBeThatLong()
    {
        var longest = new string('k', BearerKey.MaxLength);
        Assert.True(BearerKey.Matches("Bearer " + longest, BearerKey.HashOf(longest)));
        Assert.False(BearerKey.Matches("Bearer " + longest + "k", BearerKey.HashOf(longest + "k")));

        Assert.Equal(longest, Settings.Resolve<MetricsOptions>(new() { ["Metrics:BearerToken"] = longest }).BearerToken);
        var ex = Assert.Throws<OptionsValidationException>(() => Settings.Resolve<MetricsOptions>(new() { ["Metrics:BearerToken"] = longest + "k" }));
        Assert.Contains("Metrics__BearerToken must be at most 1024 characters", ex.Message, StringComparison.Ordinal);
    }
}
