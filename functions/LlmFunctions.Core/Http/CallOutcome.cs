namespace LlmFunctions.Core.Http;

/// <summary>The <c>Outcome</c> values of a call record.</summary>
internal static class CallOutcome
{
    public const string Ok = "ok";
    public const string RateLimited = "rate_limited";

    /// <summary>Refused by a budget (429 <c>budget_exceeded</c>): not the client's rate limit, nor the upstream's.</summary>
    public const string BudgetBlocked = "budget_blocked";

    /// <summary>The proxy itself failed (a defect, or a budget it could not check): never blamed on the upstream.</summary>
    public const string ProxyError = "proxy_error";
    public const string UpstreamError = "upstream_error";
    public const string Timeout = "timeout";
    public const string ClientError = "client_error";
    public const string ClientCancelled = "client_cancelled";

    /// <summary>Refused because storage was down and this host answers only calls whose record is in the table.</summary>
    public const string StorageUnavailable = "storage_unavailable";

    /// <summary>The outcome a final status implies when nothing else went wrong.</summary>
    public static string FromStatus(int status) => status switch
    {
        >= 200 and < 400 => Ok,
        429 => RateLimited,
        504 => Timeout,
        >= 500 => UpstreamError,
        _ => ClientError,
    };
}
