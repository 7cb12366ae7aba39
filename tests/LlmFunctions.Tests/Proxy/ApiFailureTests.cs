using System.Reflection;
using LlmFunctions.Core.Http;

namespace LlmFunctions.Tests.Proxy;

/// <summary>Each failure's record outcome says whose it was (issue 27: the proxy's own were recorded as the upstream's).</summary>
public sealed class ApiFailureTests
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
            "a defect of ours" => ApiFailure.Internal("call-1"),
            "a budget we could not check" => ApiFailure.BudgetUnavailable("ledger unreachable"),
            "a budget that refuses" => ApiFailure.BudgetExceeded("over", resetsAt: null),
            "the client's rate limit" => ApiFailure.RateLimited("alpha"),
            "storage down on Functions" => ApiFailure.StorageUnavailable,
            _ => ApiFailure.UpstreamUnreachable("default", 0),
        };

        Assert.Equal(status, failure.Status);
        Assert.Equal(outcome, failure.Outcome);
    }

    /// <summary>
    /// Issue 27 (4): the one table. Every row (each static member of <see cref="ApiFailure"/>, for the proxy, /spend and
    /// /metrics) has an outcome of the record's set that agrees with its status, an OpenAI error type, and a code.
    /// </summary>
    [Fact]
    public void EveryRowOfTheTable_HasAnOutcomeThatAgreesWithItsStatus_AndAnOpenAIErrorBody()
    {
        var outcomes = typeof(ApiFailure).Assembly.GetType("LlmFunctions.Core.Http.CallOutcome")!
            .GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!).ToHashSet();
        var rows = typeof(ApiFailure).GetMembers(BindingFlags.Public | BindingFlags.Static)
            .Select(m => (m.Name, Failure: m switch
            {
                PropertyInfo p when p.PropertyType == typeof(ApiFailure) => (ApiFailure)p.GetValue(null)!,
                MethodInfo { ReturnType: var t } method when t == typeof(ApiFailure) => (ApiFailure)method.Invoke(null, method.GetParameters()
                    .Select(a => a.ParameterType == typeof(int) ? (object)400 : a.ParameterType == typeof(string) ? "x" :
                        a.ParameterType == typeof(TimeSpan) ? TimeSpan.FromSeconds(1) : null).ToArray())!,
                _ => null,
            }))
            .Where(r => r.Failure is not null)
            .ToList();
        Assert.True(rows.Count >= 20, $"{rows.Count} rows");

        foreach (var (name, failure) in rows)
        {
            Assert.True(outcomes.Contains(failure!.Outcome), $"{name}: outcome '{failure.Outcome}'");
            var expected = failure.Status switch
            {
                499 => ["client_cancelled"],
                429 => new[] { "rate_limited", "budget_blocked" },
                >= 400 and < 500 => ["client_error"],
                504 => ["timeout"],
                502 => ["upstream_error"],
                _ => ["proxy_error", "storage_unavailable"],
            };
            Assert.True(expected.Contains(failure.Outcome), $"{name}: status {failure.Status} recorded as '{failure.Outcome}'");
            if (failure.Status != 499)
            {
                Assert.True(failure.ErrorType.Length > 0 && failure.Code.Length > 0 && failure.Message.Length > 0, $"{name}: an incomplete error body");
            }
        }
    }
}
