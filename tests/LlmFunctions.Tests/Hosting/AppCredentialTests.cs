using Azure.Identity;
using LlmFunctions.Core;

namespace LlmFunctions.Tests.Hosting;

/// <summary>In Azure the app reaches storage, Azure OpenAI and Application Insights as its own identity, nothing else.</summary>
public sealed class AppCredentialTests
{
    [Fact]
    public void WithTheAppsClientId_OnlyThatManagedIdentity()
    {
        Assert.IsType<ManagedIdentityCredential>(AppCredential.Create("00000000-0000-0000-0000-0000000000aa"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void WithoutOne_TheDeveloperChain(string? clientId)
    {
        Assert.IsType<DefaultAzureCredential>(AppCredential.Create(clientId));
    }

    /// <summary>No other code builds a credential of its own.</summary>
    [Fact]
    public void NoOtherSourceFile_BuildsACredential()
    {
        var offenders = Directory.EnumerateFiles(Infrastructure.Repo.Path("functions"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.EndsWith("AppCredential.cs", StringComparison.Ordinal)
                && File.ReadAllText(f).Contains("AzureCredential(", StringComparison.Ordinal))
            .ToList();
        Assert.Empty(offenders);
    }
}
