using Yarp.ReverseProxy.Forwarder;

namespace LlmFunctions.FunctionsHost;

/// <summary>Forwards the client's request unchanged but for <c>x-ms-invocation-id</c>, which pairs it with its invocation.</summary>
internal sealed class InvocationTransformer(string invocationId) : HttpTransformer
{
    public const string Header = "x-ms-invocation-id";

    public override async ValueTask TransformRequestAsync(
        HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await Default.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        proxyRequest.Headers.Remove(Header);
        proxyRequest.Headers.TryAddWithoutValidation(Header, invocationId);
    }
}
