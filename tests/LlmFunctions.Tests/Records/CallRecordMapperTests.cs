using System.Text.Json;
using Azure.Data.Tables;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Tests.Records;

public sealed class CallRecordMapperTests
{
    private static CallRecord FullRecord(string client, string model, bool streamed, bool downgraded = true, string outcome = CallOutcome.Ok) => new()
    {
        CallId = Guid.NewGuid().ToString("N"),
        StartedAt = new DateTimeOffset(2026, 11, 28, 6, 0, 1, TimeSpan.Zero),
        Client = client,
        Model = model,
        UsedModel = downgraded ? model + "-downgraded" : "",
        ResponseModel = model + "-2025-04-14",
        Method = "POST",
        Endpoint = "/v1/chat/completions",
        StatusCode = outcome == CallOutcome.Timeout ? 504 : 200,
        Outcome = outcome,
        InputTokens = 1200,
        CachedInputTokens = 300,
        OutputTokens = 450,
        ReasoningTokens = 50,
        CostNanoUsd = 987_654,
        Priced = true,
        UsageSource = UsageSource.Estimated,
        DurationMs = 1234.5,
        TimeToFirstByteMs = streamed ? 210.25 : 0,
        Streamed = streamed,
        Retries = 2,
        UpstreamRequestId = "req_123",
        EndUser = "user-" + client,
        Tags = "team-a,batch",
    };

    [Fact]
    public void AggregatedColumns_CarryEverythingTheFoldAndBudgetsRead()
    {
        // What the fold and a snapshot's tail get from a query that selects AggregatedColumns, against the whole entity.
        var records = new[]
        {
            FullRecord("a", "gpt-4.1", streamed: true),
            FullRecord("b", "gpt-4.1-mini", streamed: false, downgraded: false, outcome: CallOutcome.Timeout),
        };
        Assert.Contains("PartitionKey", CallRecordMapper.AggregatedColumns); // the fold takes a record's minute from it
        var whole = new AggregateState();
        var projected = new AggregateState();
        var wholeDelta = new AggregateDelta();
        var projectedDelta = new AggregateDelta();
        foreach (var record in records)
        {
            var entity = CallRecordMapper.ToEntity(record, "202611280600-42");
            var selected = new TableEntity();
            foreach (var column in CallRecordMapper.AggregatedColumns)
            {
                if (column == "Timestamp")
                {
                    continue; // set by storage on write (FromEntity's fallback for a row without StartedAt), not by ToEntity
                }

                Assert.True(entity.ContainsKey(column), column);
                selected[column] = entity[column];
            }

            Assert.True(selected.Count < entity.Count); // the projection leaves something out
            var fromWhole = CallRecordMapper.FromEntity(entity);
            var fromSelected = CallRecordMapper.FromEntity(selected);
            Assert.Equal(fromWhole.StartedAt, fromSelected.StartedAt);
            whole.Add(fromWhole, maxModels: 50);
            projected.Add(fromSelected, maxModels: 50);
            wholeDelta.Add(fromWhole);
            projectedDelta.Add(fromSelected);
        }

        Assert.Equal(JsonSerializer.Serialize(whole), JsonSerializer.Serialize(projected));
        Assert.NotEmpty(whole.Histograms);
        var a = new Dictionary<SpendKey, long>();
        var b = new Dictionary<SpendKey, long>();
        UsageSums.AddCosts(a, wholeDelta.Usage);
        UsageSums.AddCosts(b, projectedDelta.Usage);
        Assert.Equal(a.OrderBy(p => p.Key.ToString()), b.OrderBy(p => p.Key.ToString()));
        Assert.Equal(2, a.Count);
        Assert.All(a.Keys, k => Assert.Equal(("batch,team-a", "user-" + k.Client), (k.Tags, k.User))); // budgets by tag and user
    }
}
