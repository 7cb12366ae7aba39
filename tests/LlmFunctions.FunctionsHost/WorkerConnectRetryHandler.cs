using System.Net.Sockets;
using Polly;
using Polly.Retry;

namespace LlmFunctions.FunctionsHost;

/// <summary>
/// Retries a request whose connection the worker refused: up to ten times, 50 ms growing to 250 ms, as the host's
/// own forwarding handler does. A refused connection sent nothing, so the retry cannot repeat a call.
/// </summary>
internal sealed class WorkerConnectRetryHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private static readonly ResiliencePipeline Pipeline = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<HttpRequestException>(e =>
                e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused }),
            MaxRetryAttempts = 10,
            Delay = TimeSpan.FromMilliseconds(50),
            MaxDelay = TimeSpan.FromMilliseconds(250),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = false,
        })
        .Build();

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Pipeline.ExecuteAsync(static (state, ct) => new ValueTask<HttpResponseMessage>(state.Self.SendCoreAsync(state.Request, ct)),
            (Self: this, Request: request), cancellationToken).AsTask();

    private Task<HttpResponseMessage> SendCoreAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        base.SendAsync(request, cancellationToken);
}
