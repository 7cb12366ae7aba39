using LlmFunctions.Local;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>The local host (the real <see cref="LocalHost"/> builder), in-process on a free 127.0.0.1 port.</summary>
internal sealed class ProxyHost : ITestHost
{
    public const string ClientKey = "sk-test-client-key-alpha";
    public const string OtherClientKey = "sk-test-client-key-beta";
    public const string UpstreamKey = "sk-upstream-secret-key-do-not-leak";

    private ProxyHost(WebApplication app, string baseUrl, CapturedLogs logs)
    {
        App = app;
        BaseUrl = baseUrl;
        Logs = logs;
    }

    public WebApplication App { get; }

    public string BaseUrl { get; }

    public Uri OpenAIBase => new(BaseUrl + "/v1");

    public CapturedLogs Logs { get; }

    public HostKind Kind => HostKind.Local;

    public string Log => Logs.All;

    public IServiceProvider Services => App.Services;

    public static Dictionary<string, string?> DefaultSettings(string upstreamBaseUrl, string storageConnectionString) => new()
    {
        ["Upstream:BaseUrl"] = upstreamBaseUrl,
        ["Upstream:ApiKey"] = UpstreamKey,
        ["Upstream:TimeoutSeconds"] = "5",
        ["Upstream:MaxRetries"] = "3",
        ["Upstream:RetryBaseDelayMs"] = "10",
        ["Storage:ConnectionString"] = storageConnectionString,
        ["Storage:SpoolDirectory"] = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "llmf-spool-" + Guid.NewGuid().ToString("N")),
        ["Clients:alpha:Key"] = ClientKey,
        ["Clients:beta:KeySha256"] = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(OtherClientKey))),
        ["Metrics:BearerToken"] = "scrape-token-for-tests",
        ["Metrics:FoldLagSeconds"] = "10",
        ["Proxy:ForwardedRequestHeaders"] = "x-fake-scenario", // the fake upstream's fault switch
    };

    public static async Task<ProxyHost> StartAsync(IDictionary<string, string?> settings, Action<IServiceCollection>? services = null,
        string environment = "Production")
    {
        var logs = new CapturedLogs();
        var app = LocalHost.Build(["--urls", "http://127.0.0.1:0", "--environment", environment], builder =>
        {
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddInMemoryCollection(settings);
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(logs.Provider);
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 64 * 1024 * 1024);
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));
            services?.Invoke(builder.Services);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ProxyHost(app, address.TrimEnd('/'), logs);
    }

    public async Task RunBudgetRollupAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await Get<Core.LlmFunctionsHandlers>().BudgetRollupAsync(timeout.Token); // what the host's timer runs
    }

    public T Get<T>() where T : notnull => App.Services.GetRequiredService<T>();

    public HttpClient CreateHttpClient(string? key = ClientKey) => ClientFor(BaseUrl, key);

    /// <summary>A client of a host under test, with <paramref name="key"/> as its bearer key when given.</summary>
    public static HttpClient ClientFor(string baseUrl, string? key)
    {
        // No draining of abandoned responses, so a disposed response closes its connection at once (disconnect tests).
        var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
