using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Records;


namespace LlmFunctions.Tests.Metrics;

public sealed class SnapshotTests
{
    private static readonly DateTimeOffset PeriodStart = new(2026, 11, 27, 16, 0, 0, TimeSpan.Zero);

    private static CallRecord Record(string client, string model, long nanoUsd) => new()
    {
        CallId = Guid.NewGuid().ToString("N"),
        StartedAt = PeriodStart.AddHours(-1), // when a call started plays no part: the minute it was written does
        Client = client,
        Model = model,
        Method = "POST",
        Endpoint = "chat/completions",
        CostNanoUsd = nanoUsd,
    };

    /// <summary>What an instance publishes for one write minute.</summary>
    private static Dictionary<SpendKey, UsageSums> Written(params CallRecord[] records)
    {
        var delta = new AggregateDelta();
        foreach (var r in records)
        {
            delta.Add(r);
        }

        return delta.Usage;
    }

    [Fact]
    public void AddTailSpendSince_CountsTheMinutesWrittenFromThePeriodStartOn()
    {
        var snapshot = new AggregateSnapshot(new AggregateState(), 5, null, PeriodStart)
        {
            TailUsage = new Dictionary<string, Dictionary<SpendKey, UsageSums>>
            {
                [RecordKeys.Minute(PeriodStart.AddMinutes(-1))] = Written(Record("a", "gpt-4.1-mini", 1)),
                [RecordKeys.Minute(PeriodStart)] = Written(Record("a", "gpt-4.1-mini", 10), Record("a", "gpt-4.1-mini", 100)),
                [RecordKeys.Minute(PeriodStart.AddMinutes(1))] = Written(Record("b", "gpt-4.1", 1000), Record("b", "gpt-4.1", 10_000)),
            },
        };

        var spend = new Dictionary<SpendKey, long> { [new SpendKey("a", "gpt-4.1-mini")] = 5 };
        snapshot.AddTailSpendSince(PeriodStart, spend);

        Assert.Equal(115, spend[new SpendKey("a", "gpt-4.1-mini")]); // the folded 5 + 10 + 100; the minute before the start is not counted
        Assert.Equal(11_000, spend[new SpendKey("b", "gpt-4.1")]);
        Assert.Equal(2, spend.Count);

        var later = new Dictionary<SpendKey, long>();
        snapshot.AddTailSpendSince(PeriodStart.AddMilliseconds(1), later); // a start inside a minute counts from the next
        Assert.Equal([new SpendKey("b", "gpt-4.1")], later.Keys);
    }
}
