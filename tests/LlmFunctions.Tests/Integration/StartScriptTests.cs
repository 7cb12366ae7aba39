using System.Net;
using System.Net.Sockets;
using System.Text;
using Azure.Data.Tables;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// The README's run command, <c>.ci/start</c>, run as a user runs it (issue 30, item 3): it says ready only when the
/// host it started answers, names a bad setting or a taken port and exits non-zero leaving nothing running, and on
/// Ctrl+C stops the host before storage, so a call in flight is answered and recorded, not spooled. Each run gets its
/// own ports and state folder; the builds are the test run's own (<c>LLMF_START_SKIP_BUILD</c>). Run alone: each
/// starts Azurite, the simulator and a host.
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class StartScriptTests : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("llmf-start-").FullName;
    private readonly int _port = Ports.Free();
    private readonly int _azuritePort = Ports.Free();
    private readonly int _simulatorPort = Ports.Free();

    [Theory]
    [OnBothHosts]
    public async Task ABadSetting_ExitsNonZero_WithTheHostsOwnError_NoBanner_AndNothingLeftRunning(HostKind kind)
    {
        var (code, output) = await RunToEndAsync(new() { ["Budgets__hard__LimitUsd"] = "1", ["Budgets__hard__Action"] = "blok" }, kind);

        Assert.Equal(1, code);
        Assert.Contains("start: the host exited", output, StringComparison.Ordinal);
        Assert.Contains("Budgets__hard__Action 'blok' must be notify, block, downgrade or shadow.", output, StringComparison.Ordinal);
        Assert.DoesNotContain("OpenAI base URL", output, StringComparison.Ordinal);
        AssertNothingListens();
    }

    [Fact]
    public async Task ATakenPort_IsNamed_BeforeAnythingStarts()
    {
        using var taken = new TcpListener(IPAddress.Loopback, _port);
        taken.Start();

        var (code, output) = await RunToEndAsync([], HostKind.Local);

        Assert.Equal(1, code);
        Assert.Contains($"port {_port} (the proxy) is already in use", output, StringComparison.Ordinal);
        Assert.DoesNotContain("OpenAI base URL", output, StringComparison.Ordinal);
        taken.Stop();
        AssertNothingListens();
    }

    [Theory]
    [OnBothHosts]
    public async Task CtrlC_StopsTheHostBeforeStorage_SoACallInFlightIsAnsweredAndRecorded_InOneLogLine(HostKind kind)
    {
        await using var start = Start([], kind);
        await start.WaitForOutputAsync("Ready", TimeSpan.FromSeconds(90));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}"), Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"gpt-4.1","messages":[{"role":"user","content":"Hello"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Authorization", "Bearer sk-local-dev-key");
        request.Headers.Add("x-fake-scenario", "delay-ms=4000");
        var call = http.SendAsync(request);
        await TestEnvironment.WaitForHealthAsync(http, h => (int)h["callsInFlight"]! >= 1, "the call at the simulator, waiting out its delay",
            TimeSpan.FromSeconds(30));

        // Ctrl+C at a terminal: SIGINT to the script's whole process group.
        var (killed, killOutput) = await ChildProcess.RunAsync("kill", ["-INT", "--", "-" + start.Process.Id], TimeSpan.FromSeconds(10));
        Assert.True(killed == 0, $"kill -INT -- -{start.Process.Id}: {killOutput}");
        using var response = await call;
        try
        {
            await start.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(45));
        }
        catch (TimeoutException)
        {
            var hostLog = Path.Combine(_state, "host.log");
            Assert.Fail("The script did not exit within 45 s of Ctrl+C. Its output:\n" + start.Output
                + "\nThe host's log:\n" + (File.Exists(hostLog) ? File.ReadAllText(hostLog) : "(none)"));
        }

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(130, start.Process.ExitCode);
        Assert.Empty(Directory.Exists(Path.Combine(_state, "spool")) ? Directory.GetFiles(Path.Combine(_state, "spool"), "*", SearchOption.AllDirectories) : []);
        AssertNothingListens();

        // One Information line for the call, with its tokens and cost; the framework's request lines are at Warning.
        var callId = response.Headers.GetValues("x-llm-call-id").Single();
        var log = await File.ReadAllTextAsync(Path.Combine(_state, "host.log")); // complete, unlike the output still being read
        var lines = log.Split('\n');
        Assert.Contains(lines, l => l.Contains(callId, StringComparison.Ordinal) && l.Contains("client=local model=gpt-4.1 status=200", StringComparison.Ordinal)
            && l.Contains("cost=$", StringComparison.Ordinal));
        Assert.DoesNotContain("Microsoft.AspNetCore.Hosting.Diagnostics", log, StringComparison.Ordinal);
        Assert.DoesNotContain("fail:", log, StringComparison.Ordinal);
        // The worker's ASP.NET Core integration creates a data-protection key at start and warns it is not encrypted: not ours.
        Assert.DoesNotContain(lines, l => l.Contains("warn:", StringComparison.Ordinal) && !l.Contains("DataProtection", StringComparison.Ordinal));

        // The record is in the data Azurite kept on disk.
        await using var azurite = ChildProcess.Start(Repo.Azurite, ["--location", Path.Combine(_state, "azurite-data"), "--tableHost", "127.0.0.1",
            "--tablePort", _azuritePort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--skipApiVersionCheck", "--disableProductStyleUrl", "--disableTelemetry"]);
        await azurite.WaitForOutputAsync("successfully started", TimeSpan.FromSeconds(30));
        var service = new TableServiceClient(
            $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={Azurite.DevKey};TableEndpoint=http://127.0.0.1:{_azuritePort}/devstoreaccount1;");
        var ids = new List<string?>();
        await foreach (var table in service.QueryAsync())
        {
            if (!table.Name.StartsWith(Core.Records.TableNames.CallsPrefix, StringComparison.Ordinal))
            {
                continue;
            }

            await foreach (var e in service.GetTableClient(table.Name).QueryAsync<TableEntity>())
            {
                ids.Add(e.GetString("CallId"));
            }
        }

        Assert.True(ids.Contains(callId), $"call {callId} not among the {ids.Count} stored: {string.Join(", ", ids)}");
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private ChildProcess Start(Dictionary<string, string> settings, HostKind kind)
    {
        var env = new Dictionary<string, string>(settings)
        {
            ["LLMF_STATE_DIR"] = _state,
            ["LLMF_START_SKIP_BUILD"] = "1",
            ["PORT"] = _port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["AZURITE_PORT"] = _azuritePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["SIM_PORT"] = _simulatorPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Proxy__ForwardedRequestHeaders"] = "x-fake-scenario",
        };

        // As at a terminal: the script leads a process group of its own (setsid), so SIGINT can go to the group, and SIGINT
        // is not ignored (env --default-signal): a test run started in the background without job control ignores it,
        // every process it starts inherits that, and a shell cannot trap a signal ignored when it started.
        return ChildProcess.Start("env", ["--default-signal=INT", "setsid", "bash", Repo.Path(".ci", "start"),
            .. kind == HostKind.Functions ? ["--functions"] : Array.Empty<string>()], env);
    }

    private async Task<(int Code, string Output)> RunToEndAsync(Dictionary<string, string> settings, HostKind kind)
    {
        await using var start = Start(settings, kind);
        await start.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(90));
        return (start.Process.ExitCode, start.Output);
    }

    private void AssertNothingListens()
    {
        foreach (var port in new[] { _port, _azuritePort, _simulatorPort })
        {
            using var client = new TcpClient();
            Assert.ThrowsAny<SocketException>(() => client.Connect(IPAddress.Loopback, port));
        }
    }
}
