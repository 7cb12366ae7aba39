using LlmFunctions.Core.Records;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Records;

public sealed class TableStoreTests
{
    [Fact]
    public async Task WritingARecordAgain_AloneOrInABatch_SucceedsAndLeavesOneCopy()
    {
        await using var env = await TestEnvironment.StartAsync();
        var store = env.Local.Get<TableStore>();
        var now = env.Clock.GetUtcNow();
        var partitionKey = RecordKeys.PartitionKey(now, 7);
        CallRecord Record(string id, long tokens) => new()
        {
            CallId = id, StartedAt = now, Client = "alpha", Method = "POST", Endpoint = "chat/completions",
            Model = "gpt-4.1", StatusCode = 200, InputTokens = tokens,
        };

        // A lone record is an insert; again (a retry whose first attempt committed unheard) it must not fail.
        await store.SubmitCallsAsync(partitionKey, [Record("call-a", 1)]);
        await store.SubmitCallsAsync(partitionKey, [Record("call-a", 1)]);

        // A batch holding it again and a new one is a transaction of upserts.
        await store.SubmitCallsAsync(partitionKey, [Record("call-a", 1), Record("call-b", 2)]);

        var records = await env.RecordsAsync(2);
        Assert.Equal(["call-a", "call-b"], records.Select(r => r.RowKey).Order(StringComparer.Ordinal));
        Assert.Equal(1, records.Single(r => r.RowKey == "call-a").GetInt64("InputTokens"));
        Assert.Equal(["call-a", "call-b"],
            (await store.StoredCallIdsAsync(partitionKey, ["call-a", "call-b", "call-c"], CancellationToken.None)).Order(StringComparer.Ordinal));
    }
}
