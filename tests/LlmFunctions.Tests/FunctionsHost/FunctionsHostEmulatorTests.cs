using System.Net;
using LlmFunctions.FunctionsHost;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace LlmFunctions.Tests.FunctionsHost;

/// <summary>The emulator does what the host does with the real worker: indexes, refuses, invokes, logs.</summary>
public sealed class FunctionsHostEmulatorTests
{
    private static Dictionary<string, string?> Settings() =>
        ProxyHost.DefaultSettings("http://127.0.0.1:9/v1",
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;");

    private static async Task<(Exception Error, string Log)> StartFailsAsync(Dictionary<string, string> appSettings)
    {
        var logs = new CapturedLogs();
        var options = new EmulatorOptions { AppDirectory = FunctionsWorkerHost.AppDirectory, AppSettings = appSettings, Url = new Uri("http://127.0.0.1:0") };
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
            await (await FunctionsHostEmulator.StartAsync(options, l => l.AddProvider(logs.Provider))).DisposeAsync());
        return (error, logs.All);
    }

    [Fact]
    public async Task UnresolvedSettingInABinding_StopsTheStartWithTheHostsMessage()
    {
        var appSettings = FunctionsWorkerHost.AppSettings(Settings());
        appSettings.Remove("BudgetsSchedule");

        var (error, log) = await StartFailsAsync(appSettings);

        Assert.IsType<FunctionIndexingException>(error);
        Assert.Equal("Error indexing method 'Functions.BudgetRollup'. '%BudgetsSchedule%' does not resolve to a value.", error.Message);
        Assert.Contains("The function host could not start", log);
        var pid = int.Parse(System.Text.RegularExpressions.Regex.Match(log, @"Started worker process (\d+)").Groups[1].Value);
        Assert.Throws<ArgumentException>(() => System.Diagnostics.Process.GetProcessById(pid)); // not left running
    }

    [Fact]
    public async Task FiveFieldSchedule_StopsTheStart_WithTheAppsOwnMessage()
    {
        var appSettings = FunctionsWorkerHost.AppSettings(Settings());
        appSettings["Budgets__Schedule"] = "0 */5 * * *";

        var (error, log) = await StartFailsAsync(appSettings);

        // The worker validates its options before it connects; the emulator's own NCRONTAB check is in FunctionIndexTests.
        Assert.Contains("exited", error.Message);
        Assert.Contains("Budgets__Schedule '0 */5 * * *' is not a six-field NCRONTAB expression", log);
    }

    [Fact]
    public async Task CallsFromTheMomentTheFunctionsLoad_AreAnswered_NotRefusedByAWorkerThatIsNotListeningYet()
    {
        // The worker answers the handshake before its Kestrel listens: the first calls after the load must wait for it.
        var port = Ports.Free();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        using var stop = new CancellationTokenSource();
        var statuses = new System.Collections.Concurrent.ConcurrentBag<int>();
        var probes = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await http.GetAsync("/v1/models"); // no key: the handler's 401
                    statuses.Add((int)response.StatusCode);
                    await Task.Delay(5); // leave the starting worker some CPU
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(1); // the emulator itself is not listening yet
                }
            }
        })).ToList();

        var options = new EmulatorOptions
        {
            AppDirectory = FunctionsWorkerHost.AppDirectory,
            AppSettings = FunctionsWorkerHost.AppSettings(Settings()),
            Url = new Uri($"http://127.0.0.1:{port}"),
        };
        await using (await FunctionsHostEmulator.StartAsync(options))
        {
            // Probes after the load, not a fixed time: twenty answers at least.
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            var before = statuses.Count;
            while (statuses.Count < before + 20 && DateTime.UtcNow < until)
            {
                await Task.Delay(10);
            }

            await stop.CancelAsync();
            await Task.WhenAll(probes);
        }

        Assert.Contains(401, statuses);
        Assert.All(statuses, s => Assert.True(s is 401 or 503, $"a call right after the load was answered {s}")); // 503: still loading
    }

    [Fact]
    public async Task Start_LoadsEveryFunction_AndTheWorkersLogsArriveOverRpcLog_WithoutSecrets()
    {
        await using var host = await FunctionsWorkerHost.StartAsync(Settings());

        Assert.Equal(
            ["BudgetRollup", "Health", "Key", "KeyEvents", "KeyRotate", "Keys", "Metrics", "NotFound", "NotFoundRoot", "Proxy", "SpendCalls", "SpendMe",
                "SpendReport"],
            host.Emulator.FunctionNames.Order(StringComparer.Ordinal));
        Assert.True(await host.WaitForLogAsync("LlmFunctions: upstream"), host.Log);
        Assert.Contains("Worker.LlmFunctions.Core.Hosting.StartupReport", host.Log); // RpcLog carries the worker's category
        Assert.Contains("LlmFunctions: upstreams default http://127.0.0.1:9/v1", host.Log);
        Assert.DoesNotContain(ProxyHost.UpstreamKey, host.Log);
        Assert.DoesNotContain(ProxyHost.ClientKey, host.Log);
    }

    [Fact]
    public async Task Timer_FiresOnItsSchedule()
    {
        var settings = Settings();
        (settings["Budgets:Schedule"], settings["BudgetsSchedule"]) = ("*/2 * * * * *", "*/2 * * * * *");
        await using var host = await FunctionsWorkerHost.StartAsync(settings);

        Assert.True(await host.WaitForLogAsync("Executed 'Functions.BudgetRollup' ("), host.Log);
    }

    [Fact]
    public async Task Timer_DueInMoreThan49Days_WaitsWithoutFailingTheHost()
    {
        await using var azurite = await Azurite.SharedAccountAsync(); // the rollup itself must succeed
        var settings = ProxyHost.DefaultSettings("http://127.0.0.1:9/v1", azurite.ConnectionString);
        (settings["Budgets:Schedule"], settings["BudgetsSchedule"]) = ("0 0 0 29 2 *", "0 0 0 29 2 *"); // the next 29 February is more than Task.Delay's 49.7 days away
        await using var host = await FunctionsWorkerHost.StartAsync(settings);
        Assert.True(await host.WaitForLogAsync("'Functions.BudgetRollup' is next due at 2028-02-29T00:00:00"), host.Log); // its wait has begun

        Assert.True(await host.Emulator.InvokeAsync("BudgetRollup"), host.Log);
        Assert.DoesNotContain("ArgumentOutOfRangeException", host.Log);
        Assert.DoesNotContain("could not be invoked", host.Log);
    }

    [Fact]
    public async Task AdminEndpoint_InvokesTheTimer_AndAnswers404ForOtherNames()
    {
        await using var host = await FunctionsWorkerHost.StartAsync(Settings());
        using var http = host.CreateHttpClient(key: null);

        using var accepted = await http.PostAsync("/admin/functions/BudgetRollup", new StringContent("{}"));
        using var unknown = await http.PostAsync("/admin/functions/NoSuchFunction", new StringContent("{}"));
        using var httpFunction = await http.PostAsync("/admin/functions/Proxy", new StringContent("{}"));
        var status = await http.GetStringAsync("/admin/host/status");

        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, httpFunction.StatusCode);
        Assert.Contains("\"state\":\"Running\"", status);
        Assert.True(await host.WaitForLogAsync("Executing 'Functions.BudgetRollup'"), host.Log);
    }

    [Fact]
    public async Task RouteOfNoFunction_IsAPlain404AsOnTheHost()
    {
        await using var host = await FunctionsWorkerHost.StartAsync(Settings());
        using var http = host.CreateHttpClient(key: null);

        using var response = await http.GetAsync("/api/v1/models");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
