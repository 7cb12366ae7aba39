using System.Text.Json;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Tests.Metrics;

/// <summary>
/// The fold adds a minute's records as one delta; a scrape adds the same minute as the sum of every instance's
/// published deltas. Both must give the same state, to the bit, whatever the split and the order.
/// </summary>
public sealed class AggregateDeltaTests
{
    private static readonly string[] Models = ["gpt-4.1", "deepseek-chat", "claude-sonnet-4", "gemini-2.5-pro", "gpt-4.1-mini"];

    private static List<CallRecord> Records(int count, int seed)
    {
        var random = new Random(seed);
        var start = new DateTimeOffset(2026, 11, 28, 10, 0, 0, TimeSpan.Zero);
        return Enumerable.Range(0, count).Select(i => new CallRecord
        {
            CallId = Guid.NewGuid().ToString("N"),
            StartedAt = start.AddMilliseconds(random.Next(0, 120_000)),
            Client = random.Next(3) == 0 ? "beta" : "alpha",
            Model = Models[random.Next(Models.Length)],
            Method = "POST",
            Endpoint = "/v1/chat/completions",
            StatusCode = random.Next(10) == 0 ? 429 : 200,
            InputTokens = random.Next(1, 5000),
            OutputTokens = random.Next(1, 2000),
            CostNanoUsd = random.Next(1, 50_000_000),
            Priced = true,
            UsageSource = UsageSource.Reported,
            DurationMs = random.NextDouble() * 3000,
            Streamed = i % 2 == 0,
            TimeToFirstByteMs = random.NextDouble() * 400 + 1,
        }).ToList();
    }

    /// <summary>The state with its dictionaries in key order (their stored order is insertion order).</summary>
    private static string Json(AggregateState state) => JsonSerializer.Serialize(new AggregateState
    {
        Models = state.Models,
        NewestFolded = state.NewestFolded,
        Counters = new(state.Counters.OrderBy(p => p.Key, StringComparer.Ordinal)),
        Histograms = new(state.Histograms.OrderBy(p => p.Key, StringComparer.Ordinal)),
    }, AggregateJsonContext.Default.AggregateState);

    [Theory]
    [InlineData(50)]
    [InlineData(3)] // past the cap: the same models get labels, the rest count as "other", either way
    public void OneDelta_AndTheSumOfShuffledPartialDeltas_GiveTheSameState(int maxModels)
    {
        var records = Records(2_000, seed: 7);
        var asFolded = new AggregateState { Models = ["gpt-4.1"] };
        var whole = new AggregateDelta();
        records.ForEach(whole.Add);
        asFolded.Merge(whole, maxModels);

        // Three "instances" each sum a shuffled share of the records; the scrape adds their sum.
        var asScraped = new AggregateState { Models = ["gpt-4.1"] };
        var shares = new[] { new AggregateDelta(), new AggregateDelta(), new AggregateDelta() };
        foreach (var (record, i) in records.OrderBy(_ => Random.Shared.Next()).Select((r, i) => (r, i)))
        {
            shares[i % 3].Add(record);
        }

        var sum = new AggregateDelta();
        foreach (var share in shares.Reverse())
        {
            sum.Add(RoundTrip(share)); // as stored in and read from a tail row
        }

        asScraped.Merge(sum, maxModels);

        Assert.Equal(Json(asFolded), Json(asScraped));
        Assert.Equal(Math.Min(maxModels, Models.Length), asFolded.Models.Count);
        Assert.Equal(2_000, sum.Records);
    }

    [Fact]
    public void NewModels_AreGrantedInOrdinalOrder_NotInArrivalOrder()
    {
        var state = new AggregateState();
        var delta = new AggregateDelta();
        foreach (var model in new[] { "zeta", "alpha", "mid" })
        {
            delta.Add(new CallRecord { CallId = model, StartedAt = DateTimeOffset.UnixEpoch, Model = model, Client = "c", Method = "POST",
                Endpoint = "/v1/chat/completions", StatusCode = 200 });
        }

        state.Merge(delta, maxModels: 2);

        Assert.Equal(["alpha", "mid"], state.Models);
        Assert.Equal(1, state.Counters["requests|POST|/v1/chat/completions|200|other|c"]);
    }

    [Fact]
    public void HistogramSums_AreWholeUnits_AndKeepAStateWrittenBeforeThem()
    {
        // A state stored before sums were integers carries double Sums: they stay the base, new observations add units.
        var legacy = new HistogramData { Counts = [1, 0, 0, 0, 0, 0, 0, 0, 0], Sums = [0.05, 0, 0, 0, 0, 0, 0, 0, 0] };
        var key = MetricKey.Duration("POST", "/v1/chat/completions");
        var delta = new HistogramData { Counts = new long[9], Units = new long[9] };
        delta.Observe(key.Buckets, key.Scale, 25_000); // 25 ms
        delta.Observe(key.Buckets, key.Scale, 100_000); // exactly 0.1 s: the le="0.1" bucket
        delta.Observe(key.Buckets, key.Scale, 100_001);

        legacy.Add(delta);

        Assert.Equal([3, 1, 0, 0, 0, 0, 0, 0, 0], legacy.Counts);
        Assert.Equal(0.05 + 0.125, legacy.Sum(0, key.Scale));
        Assert.Equal(0.100001, legacy.Sum(1, key.Scale));
    }

    [Theory]
    [InlineData("requests|POST|/v1/chat/completions|429|gpt-4.1|alpha")]
    [InlineData("tokens|cached_input|gpt-4.1|alpha")]
    [InlineData("cost|gpt-4.1|alpha")]
    [InlineData("retries|gpt-4.1")]
    [InlineData("duration|POST|/v1/embeddings")]
    [InlineData("cost_per_call")]
    [InlineData("ttfb|other")]
    public void StoredKeys_ParseAndPrintBackUnchanged(string text)
    {
        Assert.True(MetricKey.TryParse(text, out var key));
        Assert.Equal(text, key.ToString());
    }

    [Fact]
    public void AnUnknownKey_IsSkipped()
    {
        Assert.False(MetricKey.TryParse("requests|too|few", out _));
        Assert.False(MetricKey.TryParse("from_a_newer_version|x", out _));
    }

    private static AggregateDelta RoundTrip(AggregateDelta delta) =>
        ChunkedJson.FromEntity(ChunkedJson.ToEntity("202611281000", "instance", delta, AggregateJsonContext.Default.AggregateDelta),
            AggregateJsonContext.Default.AggregateDelta)!;

    [Fact]
    public void FailedCallsWithJunkModelNames_NeverTakeALabel_AndAFailedCallOfAGrantedModelKeepsIt()
    {
        static CallRecord Call(string model, int status, string outcome, string usage) => new()
        {
            CallId = Guid.NewGuid().ToString("N"), StartedAt = DateTimeOffset.UnixEpoch, Client = "alpha", Model = model, Method = "POST",
            Endpoint = "/v1/chat/completions", StatusCode = status, Outcome = outcome, UsageSource = usage,
        };

        var state = new AggregateState();
        var junk = new AggregateDelta();
        for (var i = 0; i < 50; i++)
        {
            junk.Add(Call("junk-" + i, 404, CallOutcome.ClientError, UsageSource.None));
        }

        state.Merge(junk, maxModels: 10);
        var real = new AggregateDelta();
        real.Add(Call("gpt-4.1", 200, CallOutcome.Ok, UsageSource.Reported));
        real.Add(Call("gpt-4.1", 429, CallOutcome.RateLimited, UsageSource.None));
        state.Merge(real, maxModels: 10);

        Assert.Equal(["gpt-4.1"], state.Models);
        Assert.Equal(50, state.Counters[MetricKey.Requests("POST", "/v1/chat/completions", "404", "other", "alpha").ToString()]);
        Assert.Equal(1, state.Counters[MetricKey.Requests("POST", "/v1/chat/completions", "429", "gpt-4.1", "alpha").ToString()]);
        Assert.DoesNotContain(state.Counters.Keys, k => k.Contains('~', StringComparison.Ordinal));
    }
}
