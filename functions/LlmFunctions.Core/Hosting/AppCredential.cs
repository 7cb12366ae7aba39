using Azure.Core;
using Azure.Identity;
using Microsoft.Extensions.Configuration;

namespace LlmFunctions.Core;

/// <summary>
/// The one credential the app reaches Azure with (Table Storage by <c>Storage__TableServiceUri</c>, Azure OpenAI
/// upstreams without a key, Application Insights with Entra ID).
/// </summary>
public static class AppCredential
{
    /// <summary>The setting that names the app's user-assigned identity (the template sets it).</summary>
    public const string ClientIdSetting = "AZURE_CLIENT_ID";

    /// <summary>
    /// In Azure, <c>AZURE_CLIENT_ID</c> is set: that user-assigned identity and nothing else, so a misconfigured
    /// instance fails at once rather than trying environment variables, workload identity or a developer's CLI login.
    /// Without it (a developer's machine against a real account): <see cref="DefaultAzureCredential"/>.
    /// </summary>
    public static TokenCredential Create(IConfiguration configuration) => Create(configuration[ClientIdSetting]);

    /// <inheritdoc cref="Create(IConfiguration)"/>
    public static TokenCredential Create(string? clientId) => string.IsNullOrWhiteSpace(clientId)
        ? new DefaultAzureCredential()
        : new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId));
}
