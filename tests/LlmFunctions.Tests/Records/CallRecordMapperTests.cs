using System.Reflection;
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

    /// <summary>
    /// The one declaration covers the record: a property that is neither a column nor declared not stored fails here,
    /// before its value is silently lost on the way to the table.
    /// </summary>
    [Fact]
    public void EveryPropertyOfTheRecord_IsAColumn_OrDeclaredNotStored()
    {
        var columns = CallRecordColumns.All.Select(c => c.Name).ToList();
        var properties = typeof(CallRecord).GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(p => p.Name).ToList();

        Assert.Equal(columns.Count, columns.Distinct().Count());
        Assert.All(properties, p => Assert.True(columns.Contains(p) != CallRecordColumns.NotStored.Contains(p),
            $"CallRecord.{p} has no column in CallRecordColumns.All (nor is it in CallRecordColumns.NotStored)"));
        Assert.All(columns.Concat(CallRecordColumns.NotStored), c => Assert.Contains(c, properties));
    }

    /// <summary>Every property a call sets comes back from its row, each from its own column.</summary>
    [Fact]
    public void EverySettableProperty_SurvivesTheTable()
    {
        var record = FullRecord("a", "gpt-4.1", streamed: true);
        var fields = typeof(CallRecord).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod?.IsPublic == true).ToList();
        foreach (var (field, i) in fields.Select((f, i) => (f, i + 1)))
        {
            field.SetValue(record, RecordSpoolTests.Distinct(field.PropertyType, i));
        }

        var back = CallRecordMapper.FromEntity(CallRecordMapper.ToEntity(record, "202611280600-42"));

        Assert.All(fields, f => Assert.True(Equals(f.GetValue(record), f.GetValue(back)), $"{f.Name} did not survive the table"));
        Assert.Equal(record.CostUsd, back.CostUsd);
    }

    /// <summary>The names in the table and the fold's selection, as they were before the declaration: people read them.</summary>
    [Fact]
    public void TheStoredNames_AndTheFoldsSelection_AreUnchanged()
    {
        var entity = CallRecordMapper.ToEntity(FullRecord("a", "gpt-4.1", streamed: true), "202611280600-42");

        string[] stored =
        [
            "PartitionKey", "RowKey", "CallId", "StartedAt", "Client", "Model", "RequestedModel", "UsedModel", "ResponseModel", "Method",
            "Endpoint", "StatusCode", "Outcome", "InputTokens", "CachedInputTokens", "OutputTokens", "ReasoningTokens", "CacheWriteTokens",
            "CacheWrite1hTokens", "CostUsd", "CostNanoUsd", "Priced", "UsageSource", "DurationMs", "TimeToFirstByteMs", "Streamed", "Retries",
            "UpstreamRequestId", "Upstream", "UpstreamsTried", "BudgetShadowBlocks", "EndUser", "Tags", "Metadata",
        ];
        Assert.Equal(stored.Order(StringComparer.Ordinal), entity.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(0.000987654, entity.GetDouble("CostUsd")!.Value, 12);
        string[] aggregated =
        [
            "PartitionKey", "RowKey", "Timestamp", "StartedAt", "Client", "Model", "UsedModel", "Method", "Endpoint", "StatusCode", "Outcome",
            "InputTokens", "CachedInputTokens", "OutputTokens", "ReasoningTokens", "CostNanoUsd", "Priced", "UsageSource",
            "DurationMs", "TimeToFirstByteMs", "Streamed", "Retries", "Upstream", "BudgetShadowBlocks", "EndUser", "Tags",
        ];
        Assert.Equal(aggregated.Order(StringComparer.Ordinal), CallRecordMapper.AggregatedColumns.Order(StringComparer.Ordinal));
    }

    /// <summary>A row written before most columns existed reads with the fallbacks it always had.</summary>
    [Fact]
    public void ARowWithoutColumns_ReadsItsKeysAndDefaults()
    {
        var timestamp = new DateTimeOffset(2026, 11, 28, 6, 0, 2, TimeSpan.Zero);
        var back = CallRecordMapper.FromEntity(new TableEntity("202611280600-42", "row-key") { Timestamp = timestamp });

        Assert.Equal(("row-key", timestamp), (back.CallId, back.StartedAt));
        Assert.Equal(("", "", UsageSource.None, 0L, false), (back.Client, back.Outcome, back.UsageSource, back.InputTokens, back.Priced));
        Assert.Equal(("", "", "", 0, 0.0), (back.Metadata, back.RequestedModel, back.Upstream, back.UpstreamsTried, back.DurationMs));
    }

    /// <summary>
    /// The spool and journal store the record itself under its property names, which are its columns that are read
    /// back (the derived ones, the USD double, the billed model and Shrunk, are not in them).
    /// </summary>
    [Fact]
    public void TheSpoolForm_IsTheColumnsReadBack()
    {
        var json = JsonSerializer.SerializeToElement(new SpooledRecord { Record = FullRecord("a", "gpt-4.1", streamed: true) },
            SpoolJsonContext.Default.SpooledRecord);
        var spooled = json.GetProperty("Record").EnumerateObject().Select(p => p.Name);
        var readBack = CallRecordColumns.All.Where(c => c.Read is not null).Select(c => c.Name);

        Assert.Equal(readBack.Order(StringComparer.Ordinal), spooled.Order(StringComparer.Ordinal));
    }

    // Spool files as the replaced CallRecordData wrote them (its property order, System.Text.Json's escaping), one with
    // every field it had and one from before Upstream, UpstreamsTried, BudgetShadowBlocks, CacheWriteTokens, EndUser, Tags,
    // Metadata and RequestedModel were added.
    private const string FormerSpoolFile = """
        [{"Record":{"CallId":"0f6c2a9e5b7d4e31a8c9d0e1f2a3b4c5","StartedAt":"2026-11-28T06:00:01.25+00:00","Client":"alpha","Model":"gpt-4.1",
        "UsedModel":"gpt-4.1-mini","ResponseModel":"gpt-4.1-mini-2025-04-14","Method":"POST","Endpoint":"/v1/chat/completions","StatusCode":200,
        "Outcome":"ok","InputTokens":1200,"CachedInputTokens":300,"OutputTokens":450,"ReasoningTokens":50,"CostNanoUsd":987654,"Priced":true,
        "UsageSource":"estimated","DurationMs":1234.5,"TimeToFirstByteMs":210.25,"Streamed":true,"Retries":2,"UpstreamRequestId":"req_123",
        "Upstream":"backup","UpstreamsTried":2,"BudgetShadowBlocks":"team-cap","CacheWriteTokens":100,"EndUser":"user-7","Tags":"batch,team-a",
        "Metadata":"{\u0022run\u0022:\u002242\u0022}","RequestedModel":"openai/GPT-4.1"},"AttemptedPartitionKeys":["202611280600-07"]},
        {"Record":{"CallId":"9a8b7c6d5e4f40312233445566778899","StartedAt":"2026-11-28T06:00:02+00:00","Client":"beta","Model":"gpt-4o-mini",
        "UsedModel":"","ResponseModel":"","Method":"POST","Endpoint":"/v1/embeddings","StatusCode":504,"Outcome":"timeout","InputTokens":10,
        "CachedInputTokens":0,"OutputTokens":0,"ReasoningTokens":0,"CostNanoUsd":1000,"Priced":false,"UsageSource":"none","DurationMs":30000,
        "TimeToFirstByteMs":0,"Streamed":false,"Retries":0,"UpstreamRequestId":""},"AttemptedPartitionKeys":[]}]
        """;

    [Fact]
    public async Task ASpoolFileInTheFormerForm_ReadsBackToTheSameRecords()
    {
        var full = FullRecord("alpha", "gpt-4.1", streamed: true);
        full.CallId = "0f6c2a9e5b7d4e31a8c9d0e1f2a3b4c5";
        full.StartedAt = new DateTimeOffset(2026, 11, 28, 6, 0, 1, 250, TimeSpan.Zero);
        (full.UsedModel, full.ResponseModel, full.Upstream, full.UpstreamsTried) = ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "backup", 2);
        (full.BudgetShadowBlocks, full.CacheWriteTokens, full.EndUser, full.Tags) = ("team-cap", 100, "user-7", "batch,team-a");
        (full.Metadata, full.RequestedModel) = ("""{"run":"42"}""", "openai/GPT-4.1");
        var older = new CallRecord
        {
            CallId = "9a8b7c6d5e4f40312233445566778899", StartedAt = new DateTimeOffset(2026, 11, 28, 6, 0, 2, TimeSpan.Zero),
            Client = "beta", Model = "gpt-4o-mini", Method = "POST", Endpoint = "/v1/embeddings", StatusCode = 504,
            Outcome = CallOutcome.Timeout, InputTokens = 10, CostNanoUsd = 1000, UsageSource = UsageSource.None, DurationMs = 30000,
        };

        var path = Path.Combine(Path.GetTempPath(), $"llmf-former-{Guid.NewGuid():N}-2.spool");
        await File.WriteAllTextAsync(path, FormerSpoolFile.ReplaceLineEndings("")); // one line, as written
        try
        {
            List<SpooledRecord> read;
            await using (var stream = RecordSpool.TryLock(path)!)
            {
                read = await RecordSpool.ReadAsync(stream, CancellationToken.None);
            }

            Assert.Equal(2, read.Count);
            AssertSame(full, read[0].Record);
            AssertSame(older, read[1].Record);
            Assert.Equal(["202611280600-07"], read[0].AttemptedPartitionKeys);
            Assert.Empty(read[1].AttemptedPartitionKeys);
            Assert.Equal("", read[1].Record.EndUser); // a field the file lacks is empty, not null
        }
        finally
        {
            File.Delete(path);
        }

        // A journal line is one such record, as JSON on its own.
        var line = JsonSerializer.Serialize(JsonDocument.Parse(FormerSpoolFile).RootElement[1]);
        AssertSame(older, JsonSerializer.Deserialize(line, SpoolJsonContext.Default.SpooledRecord)!.Record);

        static void AssertSame(CallRecord expected, CallRecord actual) =>
            Assert.All(typeof(CallRecord).GetProperties(BindingFlags.Public | BindingFlags.Instance),
                p => Assert.True(Equals(p.GetValue(expected), p.GetValue(actual)), $"{p.Name}: {p.GetValue(expected)} != {p.GetValue(actual)}"));
    }
}
