using LlmFunctions.Core.Metrics;
using LlmFunctions.Core.Records;
using LlmFunctions.Core.Spend;

namespace LlmFunctions.Tests.Metrics;

public sealed class TailSpendTests
{
    private static readonly DateTimeOffset PeriodStart = new(2026, 11, 27, 16, 0, 0, TimeSpan.Zero);

    private static CallRecord Record(DateTimeOffset startedAt, string client, string model, long nanoUsd) => new()
    {
        CallId = Guid.NewGuid().ToString("N"),
        StartedAt = startedAt,
        Client = client,
        Model = model,
        Method = "POST",
        Endpoint = "chat/completions",
        CostNanoUsd = nanoUsd,
    };

    /// <summary>What a snapshot does with one published record: sum it into a delta, add the delta.</summary>
    private static void Add(TailSpend tail, CallRecord record)
    {
        var delta = new MetricsDelta();
        delta.Add(record);
        tail.Add(delta);
    }

    [Fact]
    public void AddSince_CountsCallsStartedAtOrAfterThePeriodStart_ToTheTick()
    {
        var tail = new TailSpend();
        Add(tail, Record(PeriodStart.AddTicks(-1), "a", "gpt-4.1-mini", 1));
        Add(tail, Record(PeriodStart, "a", "gpt-4.1-mini", 10));
        Add(tail, Record(PeriodStart.AddMilliseconds(999), "a", "gpt-4.1-mini", 100));
        Add(tail, Record(PeriodStart.AddSeconds(90), "b", "gpt-4.1", 1000));
        Add(tail, Record(PeriodStart.AddSeconds(90), "b", "gpt-4.1", 10_000));

        var spend = new Dictionary<SpendKey, long> { [new SpendKey("a", "gpt-4.1-mini")] = 5 };
        tail.AddSince(PeriodStart, spend);

        Assert.Equal(115, spend[new SpendKey("a", "gpt-4.1-mini")]); // the folded 5 + 10 + 100; the call a tick before the start is not counted
        Assert.Equal(11_000, spend[new SpendKey("b", "gpt-4.1")]);
        Assert.Equal(2, spend.Count);

        var later = new Dictionary<SpendKey, long>();
        tail.AddSince(PeriodStart.AddMinutes(1), later);
        Assert.Equal([new SpendKey("b", "gpt-4.1")], later.Keys);
    }

    [Fact]
    public void ManyCalls_AreKeptAsAFewSums_WithTheSameTotals()
    {
        // What a snapshot under load sees: thousands of calls over a few seconds, two clients, two models.
        var tail = new TailSpend();
        var expected = new Dictionary<SpendKey, long>();
        for (var i = 0; i < 20_000; i++)
        {
            var record = Record(PeriodStart.AddMilliseconds(i / 5.0 - 1000), i % 2 == 0 ? "a" : "b", i % 3 == 0 ? "gpt-4.1" : "gpt-4.1-mini", i);
            Add(tail, record);
            if (record.StartedAt >= PeriodStart)
            {
                var key = new SpendKey(record.Client, record.Model);
                expected[key] = expected.GetValueOrDefault(key) + record.CostNanoUsd;
            }
        }

        var spend = new Dictionary<SpendKey, long>();
        tail.AddSince(PeriodStart, spend);

        Assert.Equal(expected.OrderBy(p => p.Key.ToString()), spend.OrderBy(p => p.Key.ToString()));
        Assert.Equal(2 * 4, tail.Count); // 2 minutes (one before the start, one after) × 4 client|model keys, not 20,000 records
    }
}
