using System.Diagnostics;
using System.Globalization;
using Azure.Data.Tables;
using LlmFunctions.Local;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

// Scrape latency as history grows: seeds N call records into the LlmCalls table (Azurite), lets the fold catch up,
// then times GET /metrics on the local host. Usage (tests/Benchmarks/scrape.sh starts Azurite):
//   dotnet LlmFunctions.Benchmarks.Scrape.dll <table connection string> 10000,100000,1000000
var connection = args[0];
var sizes = args.Length > 1 ? args[1].Split(',').Select(int.Parse).ToArray() : [10_000, 100_000];
var calls = new TableServiceClient(connection).GetTableClient("LlmCalls");
await calls.CreateIfNotExistsAsync();

var app = LocalHost.Build(["--urls", "http://127.0.0.1:0", "--environment", "Development"], builder =>
{
    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["Upstream:BaseUrl"] = "http://127.0.0.1:9/v1",
        ["Upstream:ApiKey"] = "unused",
        ["Storage:ConnectionString"] = connection,
        ["Clients:bench:Key"] = "sk-bench",
        ["Metrics:BearerToken"] = "bench",
        ["Metrics:FoldLagSeconds"] = "10",
    });
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
});
await app.StartAsync();
var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
using var http = new HttpClient { BaseAddress = new Uri(url) };
http.DefaultRequestHeaders.Authorization = new("Bearer", "bench");

Console.WriteLine("| records stored | seed s | fold s (first scrape) | scrape P50 ms | scrape P99 ms | scrape max ms | body KB | empty PK-range query on the emulator, P50 ms |");
Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
var stored = 0;
string[] models = ["gpt-4.1", "gpt-4.1-mini", "claude-sonnet-4.5", "gemini-2.5-flash", "deepseek-v3.2"];
string[] clients = ["alpha", "beta", "gamma"];
foreach (var size in sizes)
{
    // Seed: records spread over past minutes (1,000 per minute), 100 per entity-group transaction.
    var seed = Stopwatch.StartNew();
    var toAdd = size - stored;
    var start = DateTimeOffset.UtcNow.AddMinutes(-5 - (size / 1000) - 1);
    await Parallel.ForEachAsync(Enumerable.Range(stored / 100, toAdd / 100), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (batch, ct) =>
    {
        var minute = start.AddMinutes(batch / 10);
        var pk = minute.UtcDateTime.ToString("yyyyMMddHHmm", CultureInfo.InvariantCulture) + "-" + (batch % 10).ToString("D2", CultureInfo.InvariantCulture);
        var actions = new List<TableTransactionAction>(100);
        for (var i = 0; i < 100; i++)
        {
            var n = batch * 100 + i;
            actions.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, new TableEntity(pk, Guid.CreateVersion7(minute).ToString("N"))
            {
                ["CallId"] = n.ToString(CultureInfo.InvariantCulture), ["StartedAt"] = minute, ["Client"] = clients[n % 3], ["Model"] = models[n % 5],
                ["UsedModel"] = models[n % 5], ["Method"] = "POST", ["Endpoint"] = "/v1/chat/completions", ["StatusCode"] = n % 50 == 0 ? 429 : 200,
                ["Outcome"] = n % 50 == 0 ? "rate_limited" : "ok", ["InputTokens"] = 1000L, ["OutputTokens"] = 200L, ["CostNanoUsd"] = 3_600_000L,
                ["Priced"] = true, ["UsageSource"] = "reported", ["DurationMs"] = 800.0 + n % 1000, ["Streamed"] = n % 2 == 0, ["TimeToFirstByteMs"] = 120.0, ["Retries"] = 0,
            }));
        }

        await calls.SubmitTransactionAsync(actions, ct);
    });
    stored = size;
    seed.Stop();

    // The seeded history is older than the fold's watermark (real writers never write behind it), so start the
    // fold over: drop the aggregate rows and let the first scrape fold the whole history again.
    var aggregates = new TableServiceClient(connection).GetTableClient("LlmAggregates");
    await aggregates.CreateIfNotExistsAsync();
    await foreach (var e in aggregates.QueryAsync<TableEntity>(select: ["PartitionKey", "RowKey"]))
    {
        await aggregates.DeleteEntityAsync(e.PartitionKey, e.RowKey);
    }

    // The first scrape folds whatever is not folded yet (the timer would have done it along the way).
    var fold = Stopwatch.StartNew();
    for (var i = 0; i < 200; i++)
    {
        var text = await http.GetStringAsync("/metrics");
        if (text.Contains("llm_metering_unfolded_records 0\n", StringComparison.Ordinal))
        {
            break;
        }
    }

    fold.Stop();
    var times = new List<double>();
    var bytes = 0;
    for (var i = 0; i < 50; i++)
    {
        var sw = Stopwatch.StartNew();
        var text = await http.GetStringAsync("/metrics");
        sw.Stop();
        times.Add(sw.Elapsed.TotalMilliseconds);
        bytes = text.Length;
        if (!text.Contains($"api_requests_by_status{{status=\"200\"}} {size - size / 50}\n", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"scrape does not show {size - size / 50} successful calls");
        }
    }

    times.Sort();

    // What one PartitionKey range query that matches nothing costs on this storage: Azurite evaluates every query
    // by scanning the whole table, where Azure Table Storage seeks the partition index.
    var empty = new List<double>();
    for (var i = 0; i < 10; i++)
    {
        var sw = Stopwatch.StartNew();
        await foreach (var _ in calls.QueryAsync<TableEntity>(filter: "PartitionKey ge '9999'"))
        {
        }

        empty.Add(sw.Elapsed.TotalMilliseconds);
    }

    empty.Sort();
    Console.WriteLine($"| {size:N0} | {seed.Elapsed.TotalSeconds:0.0} | {fold.Elapsed.TotalSeconds:0.0} | {times[24]:0.00} | {times[48]:0.00} | {times[^1]:0.00} | {bytes / 1024.0:0.0} | {empty[5]:0.00} |");
}

await app.StopAsync();
