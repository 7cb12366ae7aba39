namespace LlmFunctions.Core.Proxy;

/// <summary>How sending to the upstream ended, before any body was relayed. One value per failure kind.</summary>
internal enum UpstreamFailure
{
    None,

    /// <summary>Connect, DNS or TLS failure, or the connection closed before headers: 502.</summary>
    Unreachable,

    /// <summary>No response headers within <c>Upstream__TimeoutSeconds</c>: 504.</summary>
    Timeout,

    /// <summary>The client left; nothing is blamed on the upstream.</summary>
    ClientCancelled,
}

/// <summary>The upstream response (headers read), or the failure, and the retries it took.</summary>
internal readonly record struct UpstreamResult(HttpResponseMessage? Response, UpstreamFailure Failure, int Retries);
