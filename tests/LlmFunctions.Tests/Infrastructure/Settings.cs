using LlmFunctions.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>Options as a host resolves them from settings, through every start-up check the app registers.</summary>
internal static class Settings
{
    public static T Resolve<T>(Dictionary<string, string?> settings) where T : class
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(config);
        services.AddLlmFunctions(config);
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<T>>().Value;
    }
}
