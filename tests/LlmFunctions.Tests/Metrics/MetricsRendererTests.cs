using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Metrics;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Tests.Metrics;

public sealed class MetricsRendererTests
{
    private static CallRecord Record(string model, int status, long costNano, double durationMs, string outcome = "ok", bool streamed = false,
        string usage = "reported", bool priced = true) => new()
    {
        CallId = Guid.NewGuid().ToString("N"),
        StartedAt = new DateTimeOffset(2026, 11, 27, 10, 0, 0, TimeSpan.Zero),
        Client = "alpha",
        Model = model,
        UsedModel = model,
        Method = "POST",
        Endpoint = "/v1/chat/completions",
        Upstream = "default",
        StatusCode = status,
        Outcome = outcome,
        InputTokens = 100,
        OutputTokens = 50,
        CostNanoUsd = costNano,
        Priced = priced,
        UsageSource = usage,
        DurationMs = durationMs,
        Streamed = streamed,
        TimeToFirstByteMs = streamed ? 80 : 0,
        Retries = status == 429 ? 3 : 0,
    };

    private static async Task<string> RenderAsync(AggregateState state, IReadOnlyList<BudgetGauge>? budgets = null)
    {
        using var stream = new MemoryStream();
        var snapshot = new AggregateSnapshot(state, 2, TimeSpan.FromSeconds(30), DateTimeOffset.UnixEpoch);
        await MetricsRenderer.RenderAsync(stream, snapshot, budgets ?? [], new MetricsRenderer.InstanceFacts(0, 3), CancellationToken.None);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    [Fact]
    public async Task KnownAggregates_RenderExactText()
    {
        var state = new AggregateState();
        state.Add(Record("gpt-4.1", 200, 60_000_000, 1500), 50);
        state.Add(Record("gpt-4.1", 200, 600_000_000, 700, streamed: true), 50);
        state.Add(Record("gpt-4.1", 429, 0, 50, "rate_limited", usage: "none"), 50);
        state.Add(Record("gpt-4.1", 504, 0, 61_000, "timeout", usage: "none"), 50);

        var text = await RenderAsync(state);

        var expected = """
            # HELP api_requests_total Requests through the proxy, by HTTP status (or "timeout").
            # TYPE api_requests_total counter
            api_requests_total{method="POST",endpoint="/v1/chat/completions",status="200",model="gpt-4.1",client="alpha",upstream="default"} 2
            api_requests_total{method="POST",endpoint="/v1/chat/completions",status="429",model="gpt-4.1",client="alpha",upstream="default"} 1
            api_requests_total{method="POST",endpoint="/v1/chat/completions",status="timeout",model="gpt-4.1",client="alpha",upstream="default"} 1
            # HELP api_requests_by_status Requests by status only (legacy name; prefer api_requests_total).
            # TYPE api_requests_by_status counter
            api_requests_by_status{status="200"} 2
            api_requests_by_status{status="429"} 1
            api_requests_by_status{status="timeout"} 1
            # HELP api_timeout_total Upstream timeouts.
            # TYPE api_timeout_total counter
            api_timeout_total 1
            """;
        Assert.StartsWith(expected.ReplaceLineEndings("\n"), text);
        Assert.Contains("api_cost_usd_total 0.66\n", text);
        Assert.Contains("api_cost_by_model_total{model=\"gpt-4.1\"} 0.66\n", text);
        Assert.Contains("api_cost_by_client_total{client=\"alpha\"} 0.66\n", text);
        Assert.Contains("api_tokens_total{token_type=\"input\",model=\"gpt-4.1\",client=\"alpha\"} 400\n", text);
        Assert.Contains("api_upstream_retries_total{model=\"gpt-4.1\"} 3\n", text);
        Assert.Contains("api_unpriced_requests_total{model=\"gpt-4.1\"} 0\n", text);

        // Histograms: cumulative buckets, exact counts and sums.
        Assert.Contains("api_request_duration_seconds_sum{method=\"POST\",endpoint=\"/v1/chat/completions\"} 63.25\n", text);
        Assert.Contains("api_request_duration_seconds_count{method=\"POST\",endpoint=\"/v1/chat/completions\"} 4\n", text);
        Assert.Contains("api_request_duration_seconds_bucket{method=\"POST\",endpoint=\"/v1/chat/completions\",le=\"0.1\"} 1\n", text);
        Assert.Contains("api_request_duration_seconds_bucket{method=\"POST\",endpoint=\"/v1/chat/completions\",le=\"1\"} 2\n", text);
        Assert.Contains("api_request_duration_seconds_bucket{method=\"POST\",endpoint=\"/v1/chat/completions\",le=\"2\"} 3\n", text);
        Assert.Contains("api_request_duration_seconds_bucket{method=\"POST\",endpoint=\"/v1/chat/completions\",le=\"60\"} 3\n", text);
        Assert.Contains("api_request_duration_seconds_bucket{method=\"POST\",endpoint=\"/v1/chat/completions\",le=\"+Inf\"} 4\n", text);
        Assert.Contains("api_cost_per_call_usd_bucket{le=\"0.5\"} 1\n", text);
        Assert.Contains("api_cost_per_call_usd_bucket{le=\"1\"} 2\n", text);
        Assert.Contains("api_cost_per_call_usd_count 2\n", text);
        Assert.Contains("api_cost_per_call_bucket{le=\"0.5\"} 1\n", text);
        Assert.Contains("api_time_to_first_byte_seconds_bucket{model=\"gpt-4.1\",le=\"0.1\"} 1\n", text);
        Assert.Contains("llm_metering_unfolded_records 2\n", text);
        Assert.Contains("llm_metering_newest_folded_age_seconds 30\n", text);
        Assert.Contains("llm_metering_scrape_storage_requests 3\n", text);
    }

    [Fact]
    public async Task BudgetGauges_AreRendered()
    {
        var text = await RenderAsync(new AggregateState(), [new BudgetGauge("daily", "global", "day", 12.5, 20, 3600)]);
        Assert.Contains("api_budget_spent_usd{budget=\"daily\",scope=\"global\",period=\"day\"} 12.5\n", text);
        Assert.Contains("api_budget_limit_usd{budget=\"daily\",scope=\"global\",period=\"day\"} 20\n", text);
        Assert.Contains("api_budget_period_remaining_seconds{budget=\"daily\",scope=\"global\",period=\"day\"} 3600\n", text);
    }

    [Fact]
    public void ModelsPastTheCap_CountAsOther()
    {
        var state = new AggregateState();
        state.Add(Record("a", 200, 1, 1), 2);
        state.Add(Record("b", 200, 1, 1), 2);
        state.Add(Record("c", 200, 1, 1), 2);
        state.Add(Record("a", 200, 1, 1), 2);

        Assert.Equal(2, state.Counters["requests|POST|/v1/chat/completions|200|a|alpha|default"]);
        Assert.Equal(1, state.Counters["requests|POST|/v1/chat/completions|200|other|alpha|default"]);
        Assert.Equal(["a", "b"], state.Models);
    }

    [Theory]
    [InlineData("gpt-4.1\"} 1\n# evil", "gpt-4.1___1___evil")]
    [InlineData("", "none")]
    [InlineData("a|b", "a_b")]
    public void LabelValues_AreSanitised(string input, string expected) => Assert.Equal(expected, AggregateState.Label(input));
}
