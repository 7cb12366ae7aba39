using LlmFunctions.Core.Proxy;

namespace LlmFunctions.Tests.Proxy;

/// <summary>Each failure's record outcome says whose it was (issue 27: the proxy's own were recorded as the upstream's).</summary>
public sealed class ProxyFailureTests
{
    [Theory]
    [InlineData("a defect of ours", 500, "proxy_error")]
    [InlineData("a budget we could not check", 503, "proxy_error")]
    [InlineData("a budget that refuses", 429, "budget_blocked")]
    [InlineData("the client's rate limit", 429, "rate_limited")]
    [InlineData("storage down on Functions", 503, "storage_unavailable")]
    [InlineData("the upstream unreachable", 502, "upstream_error")]
    public void EachFailure_IsRecordedAsWhoseItWas(string what, int status, string outcome)
    {
        var failure = what switch
        {
            "a defect of ours" => ProxyFailure.Internal("call-1"),
            "a budget we could not check" => ProxyFailure.BudgetUnavailable("ledger unreachable"),
            "a budget that refuses" => ProxyFailure.BudgetExceeded("over", resetsAt: null),
            "the client's rate limit" => ProxyFailure.RateLimited("alpha"),
            "storage down on Functions" => ProxyFailure.StorageUnavailable,
            _ => ProxyFailure.UpstreamUnreachable("default", 0),
        };

        Assert.Equal(status, failure.Status);
        Assert.Equal(outcome, failure.Outcome);
    }
}
