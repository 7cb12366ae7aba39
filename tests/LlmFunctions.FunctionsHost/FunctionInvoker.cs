using System.Text.Json;
using LlmFunctions.FunctionsHost.Rpc;
using Microsoft.AspNetCore.Routing;

namespace LlmFunctions.FunctionsHost;

/// <summary>Builds the host's <c>InvocationRequest</c> for each trigger and waits for the worker's answer.</summary>
internal sealed class FunctionInvoker(WorkerChannel channel, TimeProvider time)
{
    /// <summary>
    /// An HTTP invocation under the ASP.NET Core integration: the trigger's input is an empty <c>http</c> value (the
    /// request itself goes to the worker's Kestrel with <c>x-ms-invocation-id</c>), and the route values travel as
    /// trigger metadata strings, which is where the worker binds <c>string? path</c> from.
    /// </summary>
    public Task<InvocationResponse> InvokeHttpAsync(
        HttpFunction function, string invocationId, RouteValueDictionary routeValues, CancellationToken cancellationToken)
    {
        var request = NewRequest(function, invocationId, new TypedData { Http = new RpcHttp() });
        foreach (var (name, value) in routeValues)
        {
            if (value?.ToString() is { } text)
            {
                request.TriggerMetadata[name] = new TypedData { String = text };
            }
        }

        return InvokeAsync(request, cancellationToken);
    }

    /// <summary>A timer invocation: <c>TimerInfo</c> as the host serializes it.</summary>
    public Task<InvocationResponse> InvokeTimerAsync(TimerFunction function, DateTimeOffset? last, bool isPastDue, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var info = new
        {
            Schedule = new { AdjustForDST = true },
            ScheduleStatus = new
            {
                Last = last ?? now,
                Next = function.Next(now),
                LastUpdated = now,
            },
            IsPastDue = isPastDue,
        };
        var request = NewRequest(function, Guid.NewGuid().ToString(), new TypedData { Json = JsonSerializer.Serialize(info) });
        return InvokeAsync(request, cancellationToken);
    }

    private static InvocationRequest NewRequest(FunctionDescriptor function, string invocationId, TypedData trigger)
    {
        // The worker reads trace_context unconditionally; an empty one is what the host sends without a parent.
        var request = new InvocationRequest { InvocationId = invocationId, FunctionId = function.Id, TraceContext = new RpcTraceContext() };
        request.InputData.Add(new ParameterBinding { Name = function.TriggerBinding, Data = trigger });
        return request;
    }

    private async Task<InvocationResponse> InvokeAsync(InvocationRequest request, CancellationToken cancellationToken)
    {
        try
        {
            var answer = await channel.SendAsync(new StreamingMessage { InvocationRequest = request }, cancellationToken);
            return answer.InvocationResponse ?? throw new IOException($"The worker answered invocation {request.InvocationId} with {answer.ContentCase}.");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            channel.Post(new StreamingMessage { InvocationCancel = new InvocationCancel { InvocationId = request.InvocationId } });
            throw;
        }
    }
}
