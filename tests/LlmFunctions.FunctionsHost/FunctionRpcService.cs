using Grpc.Core;
using LlmFunctions.FunctionsHost.Rpc;

namespace LlmFunctions.FunctionsHost;

/// <summary>The host's side of <c>AzureFunctionsRpcMessages.FunctionRpc</c>: hands the worker's stream to the channel.</summary>
internal sealed class FunctionRpcService(WorkerChannel channel) : FunctionRpc.FunctionRpcBase
{
    public override Task EventStream(
        IAsyncStreamReader<StreamingMessage> requestStream, IServerStreamWriter<StreamingMessage> responseStream, ServerCallContext context) =>
        channel.RunAsync(requestStream, responseStream, context.CancellationToken);
}
