using LlmFunctions.FunctionsHost.Rpc;

namespace LlmFunctions.FunctionsHost;

/// <summary>
/// What the host does once the worker's stream is open, in the host's order:
/// 1. <c>WorkerInitRequest</c> → <c>WorkerInitResponse</c> (capabilities; <c>HttpUri</c> is the worker's Kestrel);
/// 2. <c>FunctionsMetadataRequest</c> → <c>FunctionMetadataResponse</c> (worker indexing);
/// 3. index the functions (resolve settings, parse schedules, build routes): an error stops here, before any load;
/// 4. one <c>FunctionLoadRequest</c> per function (the worker ignores a <c>FunctionLoadRequestCollection</c>).
/// </summary>
internal static class WorkerHandshake
{
    public const string HostVersion = "4.1043.0-llmfunctions-emulator";

    public static async Task<(Uri HttpUri, FunctionIndex Functions)> RunAsync(
        WorkerChannel channel, string appDirectory, string routePrefix, AppSettingsResolver settings, CancellationToken cancellationToken)
    {
        // 1
        var init = new WorkerInitRequest { HostVersion = HostVersion, WorkerDirectory = appDirectory, FunctionAppDirectory = appDirectory };
        init.Capabilities["HandlesWorkerTerminateMessage"] = "true";
        init.Capabilities["HandlesInvocationCancelMessage"] = "true";
        var initAnswer = (await channel.SendAsync(new StreamingMessage { WorkerInitRequest = init }, cancellationToken)).WorkerInitResponse;
        EnsureSuccess(initAnswer?.Result, "WorkerInitRequest");
        if (!initAnswer!.Capabilities.TryGetValue("HttpUri", out var httpUri))
        {
            throw new InvalidOperationException("The worker did not report HttpUri: it does not use the ASP.NET Core integration.");
        }

        // 2
        var metadata = (await channel.SendAsync(
            new StreamingMessage { FunctionsMetadataRequest = new FunctionsMetadataRequest { FunctionAppDirectory = appDirectory } },
            cancellationToken)).FunctionMetadataResponse;
        EnsureSuccess(metadata?.Result, "FunctionsMetadataRequest");
        if (metadata!.UseDefaultMetadataIndexing)
        {
            throw new InvalidOperationException("The worker asked for host indexing (functions.json); only worker indexing is emulated.");
        }

        foreach (var function in metadata.FunctionMetadataResults.Where(f => string.IsNullOrEmpty(f.FunctionId)))
        {
            function.FunctionId = Guid.NewGuid().ToString();
        }

        // 3
        var index = FunctionIndex.Build(metadata.FunctionMetadataResults, routePrefix, settings);

        // 4
        var loads = metadata.FunctionMetadataResults.Select(async function =>
        {
            var answer = (await channel.SendAsync(
                new StreamingMessage { FunctionLoadRequest = new FunctionLoadRequest { FunctionId = function.FunctionId, Metadata = function } },
                cancellationToken)).FunctionLoadResponse;
            EnsureSuccess(answer?.Result, $"FunctionLoadRequest for '{function.Name}'");
        });
        await Task.WhenAll(loads);
        return (new Uri(httpUri), index);
    }

    private static void EnsureSuccess(StatusResult? result, string request)
    {
        if (result?.Status != StatusResult.Types.Status.Success)
        {
            throw new InvalidOperationException($"The worker failed {request}: {result?.Exception?.Message ?? result?.Result ?? "no answer"}");
        }
    }
}
