using LlmFunctions.FunctionsHost.Rpc;
using Yarp.ReverseProxy.Forwarder;

namespace LlmFunctions.FunctionsHost;

/// <summary>
/// The host's HTTP path under the ASP.NET Core integration, for every request that matches an HTTP function:
/// 1. match the route and method (no match goes on to a plain 404, as on the host);
/// 2. send the <c>InvocationRequest</c> with the route values;
/// 3. forward the request to the worker's Kestrel with <c>x-ms-invocation-id</c>, streaming the response back;
///    if the forward fails the invocation is cancelled after a grace period: a worker that got the request sees
///    the abort itself and records the call, one that never got it would wait 15 s for it;
/// 4. wait for the <c>InvocationResponse</c>; a failed invocation whose response has not started answers 500.
/// </summary>
internal sealed partial class HttpTriggerMiddleware(
    RequestDelegate next, LoadedApp app, FunctionInvoker invoker, WorkerForwarder forwarder, ILogger<HttpTriggerMiddleware> logger)
{
    private static readonly TimeSpan AbandonedInvocationGrace = TimeSpan.FromSeconds(2);

    public async Task InvokeAsync(HttpContext context)
    {
        if (app.Current is not { } current)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }

        // 1
        var (function, values) = current.Functions.Http
            .Select(f => (Function: f, Values: f.Match(context.Request.Method, context.Request.Path)))
            .FirstOrDefault(m => m.Values is not null);
        if (function is null)
        {
            await next(context);
            return;
        }

        // 2
        var invocationId = Guid.NewGuid().ToString();
        // Not linked to the client's abort: cancelling at once would race the worker's own view of the abort, and
        // an invocation cancelled before its request arrives never runs, so the call would leave no record.
        using var invocationCancel = new CancellationTokenSource();
        var invocation = invoker.InvokeHttpAsync(function, invocationId, values!, invocationCancel.Token);

        // 3
        var error = await forwarder.ForwardAsync(context, current.HttpUri, invocationId);
        if (error != ForwarderError.None)
        {
            // The worker unreachable is our failure; a client that left is not (YARP logs those at Debug too).
            Log.ForwardEnded(logger, error == ForwarderError.Request ? LogLevel.Warning : LogLevel.Debug, function.Name, invocationId, error);
            invocationCancel.CancelAfter(AbandonedInvocationGrace);
        }

        // 4
        InvocationResponse response;
        try
        {
            response = await invocation;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            Log.InvocationLost(logger, function.Name, invocationId, ex.Message);
            return;
        }

        if (response.Result?.Status != StatusResult.Types.Status.Success)
        {
            Log.InvocationFailed(logger, function.Name, invocationId, response.Result?.Exception?.Message);
            if (!context.Response.HasStarted)
            {
                context.Response.Clear();
                context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 20, Message = "Forwarding {Function} invocation {InvocationId} to the worker ended early: {Error}.")]
        public static partial void ForwardEnded(ILogger logger, LogLevel level, string function, string invocationId, ForwarderError error);

        [LoggerMessage(EventId = 21, Level = LogLevel.Error, Message = "Executed 'Functions.{Function}' (Failed, Id={InvocationId}): {Error}")]
        public static partial void InvocationFailed(ILogger logger, string function, string invocationId, string? error);

        [LoggerMessage(EventId = 22, Level = LogLevel.Debug, Message = "Invocation {InvocationId} of {Function} ended without an answer: {Reason}")]
        public static partial void InvocationLost(ILogger logger, string function, string invocationId, string reason);
    }
}
