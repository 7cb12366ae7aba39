using System.Diagnostics.Metrics;
using System.Net;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Hosting;
using LlmFunctions.Core.Keys;
using LlmFunctions.Core.Metrics;
using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Proxy;
using LlmFunctions.Core.Records;
using LlmFunctions.Core.Security;
using LlmFunctions.Core.Spend;
using LlmFunctions.Core.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core;

/// <summary>All of LlmFunctions' registration, for any host.</summary>
public static class ServiceCollectionExtensions
{
    public static IServiceCollection AddLlmFunctions(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSettings(configuration).AddHttpClients();

        // From the bottom layer up (docs/architecture.md, "Layers").
        services.AddSingleton<PriceTable>();
        services.AddSingleton<FallbackModels>();
        services.AddSingleton<ClientRateLimiter>();
        services.TryAddSingleton(_ => AppCredential.Create(configuration)); // Table Storage by endpoint, Azure OpenAI without a key
        services.AddRecords().AddAggregates().AddKeys().AddBudgets().AddSpend().AddProxy();
        services.AddSingleton<MetricsHandler>();
        services.AddSingleton<HealthHandler>();
        services.AddSingleton(sp => new LlmFunctionsHandlers(
            sp.GetRequiredService<ProxyHandler>(), sp.GetRequiredService<MetricsHandler>(), sp.GetRequiredService<HealthHandler>(),
            sp.GetRequiredService<SpendHandler>(), sp.GetRequiredService<BudgetRollup>(), sp.GetRequiredService<BudgetEnforcer>(),
            sp.GetRequiredService<BudgetReservations>(), sp.GetRequiredService<KeysHandler>()));
        services.AddHostedService<StartupReport>();
        return services;
    }

    /// <summary>Every setting, bound and checked at start (each failure names its key).</summary>
    private static IServiceCollection AddSettings(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<UpstreamOptions>().BindConfiguration(UpstreamOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<Dictionary<string, UpstreamEntryOptions>>().BindConfiguration(UpstreamEntryOptions.SectionName);
        services.AddSingleton<IValidateOptions<UpstreamOptions>, UpstreamsValidator>();
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.SectionName).ValidateDataAnnotations()
            .Validate(o => !string.IsNullOrWhiteSpace(o.ConnectionString) || !string.IsNullOrWhiteSpace(o.TableServiceUri),
                "Storage__ConnectionString or Storage__TableServiceUri is required.")
            .Validate(o => string.IsNullOrWhiteSpace(o.TableServiceUri) || Uri.IsWellFormedUriString(o.TableServiceUri, UriKind.Absolute),
                "Storage__TableServiceUri must be an absolute URL.")
            .Validate(o => o.LocalDiskIsDurable || (o.AwaitRecordWrite && !o.LocalJournal),
                "Storage__LocalDiskIsDurable=false answers a call only once its record is in the table, which needs "
                + "Storage__AwaitRecordWrite=true and Storage__LocalJournal=false.")
            .ValidateOnStart();
        services.AddOptions<ProxyOptions>().BindConfiguration(ProxyOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<ProxyOptions>, ProxyOptionsValidator>();
        services.AddOptions<MetricsOptions>().BindConfiguration(MetricsOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<MetricsOptions>, MetricsOptionsValidator>();
        services.AddOptions<KeysOptions>().BindConfiguration(KeysOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<AdminOptions>().BindConfiguration(AdminOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<PricingOptions>().BindConfiguration(PricingOptions.SectionName).ValidateOnStart();
        services.AddOptions<Dictionary<string, ClientOptions>>().BindConfiguration(ClientOptions.SectionName)
            .Validate(ClientsValidator.Validate, ClientsValidator.Message).ValidateOnStart();
        services.AddOptions<Dictionary<string, WebhookOptions>>().BindConfiguration(WebhookOptions.SectionName)
            .Validate(WebhooksValidator.Validate, WebhooksValidator.Message).ValidateOnStart();
        services.AddOptions<BudgetsOptions>().Configure(o => BudgetsBinder.Bind(configuration.GetSection(BudgetsOptions.SectionName), o));
        services.AddSingleton<IValidateOptions<BudgetsOptions>, BudgetsValidator>();
        services.AddOptions<BudgetsOptions>().ValidateOnStart()
            .PostConfigure<PriceTable>((o, prices) => BudgetsBinder.CanonicalizeModels(o, prices)); // model:openai/GPT-4.1 is model:gpt-4.1
        return services;
    }

    private static IServiceCollection AddHttpClients(this IServiceCollection services)
    {
        services.AddHttpClient(UpstreamClient.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
                AutomaticDecompression = DecompressionMethods.All,
                AllowAutoRedirect = false,
                UseCookies = false,
                UseProxy = false,
                ConnectTimeout = TimeSpan.FromSeconds(10),
                MaxConnectionsPerServer = int.MaxValue,

                // Never drain an abandoned response to reuse its connection: when a client leaves mid-stream the
                // upstream call must stop now, not after up to 1 MB or 2 s of draining.
                MaxResponseDrainSize = 0,
            })
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .RemoveAllLoggers();
        // No HttpClient request logging: webhook URLs hold their tokens in the path (Slack, Teams, Feishu), and the
        // upstream's lines would be two more Information lines per call; failures are logged by our own code.
        services.AddHttpClient(WebhookSender.HttpClientName, c => c.Timeout = TimeSpan.FromSeconds(10)).RemoveAllLoggers();
        return services;
    }

    /// <summary>The record path: storage, the writer and its background stages (<see cref="RecordPipeline"/> orders them).</summary>
    private static IServiceCollection AddRecords(this IServiceCollection services)
    {
        services.TryAddSingleton<ITableService, AzureTableService>();
        services.AddSingleton<TableStore>();
        services.AddSingleton<RecordSpool>();
        services.AddSingleton<RecordJournal>();
        services.AddSingleton<InFlightCalls>();
        services.AddSingleton<StorageOutage>();
        services.AddSingleton<RecordShard>();
        services.AddSingleton(sp =>
        {
            // This instance's durable records count at budget enforcement at once (neither type knows the other).
            var writer = ActivatorUtilities.CreateInstance<RecordWriter>(sp);
            writer.Durable += sp.GetRequiredService<BudgetEnforcer>().OnDurable;
            return writer;
        });
        services.AddSingleton<SpoolReplayer>();
        services.AddSingleton<GroupCommitWriter>();
        services.AddSingleton<JournalPump>();
        services.AddSingleton<RecordPipeline>();
        services.AddHostedService(sp => sp.GetRequiredService<RecordPipeline>());
        return services;
    }

    /// <summary>The one fold and the one reader that metrics, spend reports and budgets are views of.</summary>
    private static IServiceCollection AddAggregates(this IServiceCollection services)
    {
        services.AddSingleton(sp => new SpendKeyLimit(sp.GetRequiredService<ConfiguredBudgets>().Scopes, sp.GetRequiredService<IOptions<MetricsOptions>>()));
        services.AddSingleton<TailSummaries>();
        services.AddSingleton<ICommitObserver>(sp => sp.GetRequiredService<TailSummaries>());
        services.AddSingleton<DayRows>();
        services.AddSingleton<TableHousekeeping>();
        services.AddSingleton<AggregateFolder>();
        services.AddSingleton<AggregateReader>();
        return services;
    }

    /// <summary>Client keys: app settings' and the virtual keys of the admin API, with their limits.</summary>
    private static IServiceCollection AddKeys(this IServiceCollection services)
    {
        services.AddSingleton<KeyStore>();
        services.AddSingleton<KeyDirectory>();
        services.AddHostedService(sp => sp.GetRequiredService<KeyDirectory>());
        services.AddSingleton<ClientAuthenticator>();
        services.AddSingleton<KeyLimiter>();
        services.AddSingleton<KeyEditor>();
        services.AddSingleton<KeysHandler>();
        return services;
    }

    private static IServiceCollection AddBudgets(this IServiceCollection services)
    {
        services.AddSingleton<ConfiguredBudgets>();
        services.AddSingleton<RollupRows>();
        services.AddSingleton<BudgetSpend>();
        services.AddSingleton<WebhookSender>();
        services.AddSingleton<BudgetNotifications>();
        services.AddSingleton<WebhookOutbox>();
        services.AddSingleton<BudgetRollup>();
        services.AddSingleton<IBudgetGaugeSource, BudgetGauges>();
        services.AddSingleton<BudgetLedger>();
        services.AddSingleton<BudgetReservations>();
        services.AddHostedService(sp => sp.GetRequiredService<BudgetReservations>());
        services.AddSingleton<BudgetEnforcer>();
        services.AddSingleton<IBudgetGate>(sp => sp.GetRequiredService<BudgetEnforcer>());
        return services;
    }

    private static IServiceCollection AddSpend(this IServiceCollection services)
    {
        services.AddSingleton<SpendAuthenticator>();
        services.AddSingleton<SpendReport>();
        services.AddSingleton<CallsPage>();
        services.AddSingleton<SpendRateLimiter>();
        services.AddSingleton<SpendHandler>();
        return services;
    }

    private static IServiceCollection AddProxy(this IServiceCollection services)
    {
        services.AddSingleton<TokenEstimator>();
        services.AddSingleton<AzureTokenSource>();
        services.AddSingleton<UpstreamRouter>();
        services.AddSingleton<UpstreamClient>();
        services.AddSingleton<EndpointPolicy>();
        services.AddSingleton<HeaderPolicy>();
        services.AddSingleton<RequestValidator>();
        services.AddSingleton<CallBilling>();
        services.AddSingleton<JsonBodyRelay>();
        services.AddSingleton<SseRelay>();
        services.AddMetrics();
        services.AddSingleton(sp => new GenAiTelemetry(sp.GetRequiredService<IMeterFactory>(),
            sp.GetRequiredService<UpstreamRouter>().All.Where(u => u.IsAzure).Select(u => u.Name)));
        services.AddSingleton<BudgetAdmission>();
        services.AddSingleton<KeyAdmission>();
        services.AddSingleton<ProxyHandler>();
        return services;
    }

    /// <summary>
    /// For long-lived hosts without a timer trigger (the local host): runs the budget rollup (and the fold) on
    /// <c>Budgets__Schedule</c>. The Functions app uses its <c>BudgetRollup</c> timer function instead.
    /// </summary>
    public static IServiceCollection AddLlmFunctionsBackgroundRollup(this IServiceCollection services)
    {
        services.AddHostedService<BudgetRollupService>();
        return services;
    }
}
