using Yarp.ReverseProxy.Forwarder;

namespace LlmFunctions.FunctionsHost;

/// <summary>
/// Forwards a client's request to the worker's Kestrel with YARP, as the host does: no proxy, no decompression,
/// no redirects, no cookies, each read flushed; and, as the host's client does, it retries a refused connection,
/// because the worker answers the handshake before its Kestrel listens.
/// </summary>
internal sealed class WorkerForwarder(IHttpForwarder forwarder) : IDisposable
{
    // host.json functionTimeout is ten minutes; an LLM stream may be quiet for long stretches.
    private static readonly ForwarderRequestConfig Config = new() { ActivityTimeout = TimeSpan.FromMinutes(10) };

    private readonly HttpMessageInvoker _client = new(new WorkerConnectRetryHandler(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = System.Net.DecompressionMethods.None,
        UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(10),
    }));

    /// <summary>Sends the request with its invocation id; a failure before the response leaves YARP's 502/504.</summary>
    public ValueTask<ForwarderError> ForwardAsync(HttpContext context, Uri worker, string invocationId) =>
        forwarder.SendAsync(context, worker.ToString(), _client, Config, new InvocationTransformer(invocationId));

    public void Dispose() => _client.Dispose();
}
