using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Proxy;
using LlmFunctions.Core.Records;
using LlmFunctions.Core.Keys;
using LlmFunctions.Core.Security;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Hosting;

/// <summary>Says at start what the proxy will do (never a secret), and why it would refuse every call.</summary>
internal sealed partial class StartupReport(
    ClientAuthenticator clients, UpstreamRouter upstreams, PriceTable prices, RecordSpool spool,
    IOptions<BudgetsOptions> budgets, ILogger<StartupReport> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var described = string.Join(", ", upstreams.All.Select(u => $"{u.Name} {u.BaseUri.GetLeftPart(UriPartial.Path)}"));
        LogStart(logger, described, clients.Count, prices.Count, budgets.Value.Items.Count, spool.Directory);
        if (clients.Count == 0)
        {
            LogNoClients(logger);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 100, Level = LogLevel.Information,
        Message = "LlmFunctions: upstreams {Upstreams}, {Clients} clients, {Prices} priced models, {Budgets} budgets, spool {Spool}.")]
    private static partial void LogStart(ILogger logger, string upstreams, int clients, int prices, int budgets, string spool);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning,
        Message = "No clients are configured (Clients__<name>__Key or __KeySha256): every call will be refused with 401.")]
    private static partial void LogNoClients(ILogger logger);
}
