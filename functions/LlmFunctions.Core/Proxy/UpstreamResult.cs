namespace LlmFunctions.Core.Proxy;

/// <summary>How sending to the upstream ended, before any body was relayed. One value per failure kind.</summary>
internal enum UpstreamFailure
{
    None,

    /// <summary>Connect, DNS or TLS failure, or the connection closed before headers: 502.</summary>
    Unreachable,

    /// <summary>No response headers within <c>Upstream__TimeoutSeconds</c>: 504.</summary>
    Timeout,

    /// <summary>No response headers within <c>Upstream__DeadlineSeconds</c> over all attempts: 504.</summary>
    Deadline,

    /// <summary>The client left; nothing is blamed on the upstream.</summary>
    ClientCancelled,

    /// <summary>No upstream serves the model (only when <c>Upstream__BaseUrl</c> is not set): 404.</summary>
    NoUpstream,
}

/// <summary>
/// The upstream response (headers read), or the failure; the retries it took, the upstream that answered (or failed
/// last), the model sent to it (a fallback model, or the one asked for), and how many upstreams were tried.
/// </summary>
internal readonly record struct UpstreamResult(
    HttpResponseMessage? Response, UpstreamFailure Failure, int Retries, string Upstream, int UpstreamsTried, string? Model = null);
