using System.Diagnostics;
using System.Globalization;
using Azure.Data.Tables;
using LlmFunctions.Core;
using LlmFunctions.Local;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

// Scrape and spend report latency as history grows: seeds N call records at a steady rate (default 10,000 a day, going back from
// now, so 1M records are 100 days of history) into the daily LlmCallsyyyyMMdd tables on Azurite, lets the fold
// catch up, then times GET /metrics on the local host. Usage (tests/Benchmarks/scrape.sh starts Azurite):
//   dotnet LlmFunctions.Benchmarks.Scrape.dll <table connection string> 10000,100000,1000000 [records per day] [--seed-only]
// --seed-only seeds and folds the first size, then exits (sustained.sh's BENCH_HISTORY). The spend report is timed over
// the whole history (GET /spend from its first day to today, by day, client and model; and by user and tag).
var seedOnly = args.Contains("--seed-only");
args = args.Where(a => a != "--seed-only").ToArray();
var connection = args[0];
var sizes = args.Length > 1 ? args[1].Split(',').Select(int.Parse).ToArray() : [10_000, 100_000];
var perDay = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 10_000;
var service = new TableServiceClient(connection);
var now = DateTimeOffset.UtcNow;

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
        ["Admin:KeySha256"] = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData("sk-bench-admin"u8)),
    });
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
});
await app.StartAsync();
var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(10) };
http.DefaultRequestHeaders.Authorization = new("Bearer", "bench");

Console.WriteLine($"Steady history of {perDay:N0} records a day; the scrape reads the folded state and today's table.");
Console.WriteLine();
Console.WriteLine("| records stored | days of history | seed s | fold s (timer runs) | scrape P50 ms | scrape P99 ms | scrape max ms | body KB "
    + "| records in today's table | /spend by day,client,model P50 / max ms | rows | /spend by user,tag P50 / max ms | rows |");
Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
var stored = 0;
string[] models = ["gpt-4.1", "gpt-4.1-mini", "claude-sonnet-4.5", "gemini-2.5-flash", "deepseek-v3.2"];
string[] clients = ["alpha", "beta", "gamma"];
var spacing = TimeSpan.FromDays(1) / perDay;
foreach (var size in sizes)
{
    // Seed: record n was written at now − 5 min − n × spacing; one transaction per write minute (its partition).
    var seed = Stopwatch.StartNew();
    var minutes = Enumerable.Range(stored, size - stored)
        .GroupBy(n => (now.AddMinutes(-5) - n * spacing).UtcDateTime.ToString("yyyyMMddHHmm", CultureInfo.InvariantCulture))
        .ToList();
    var created = new System.Collections.Concurrent.ConcurrentDictionary<string, Task>();
    await Parallel.ForEachAsync(minutes, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (group, ct) =>
    {
        var table = service.GetTableClient("LlmCalls" + group.Key[..8]);
        await created.GetOrAdd(table.Name, _ => table.CreateIfNotExistsAsync(ct));
        var pk = group.Key + "-00";
        foreach (var chunk in group.Chunk(100))
        {
            var actions = new List<TableTransactionAction>(chunk.Length);
            foreach (var n in chunk)
            {
                var at = now.AddMinutes(-5) - n * spacing;
                actions.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, new TableEntity(pk, Guid.CreateVersion7(at).ToString("N"))
                {
                    ["CallId"] = n.ToString(CultureInfo.InvariantCulture), ["StartedAt"] = at, ["Client"] = clients[n % 3], ["Model"] = models[n % 5],
                    ["UsedModel"] = models[n % 5], ["Method"] = "POST", ["Endpoint"] = "/v1/chat/completions", ["StatusCode"] = n % 50 == 0 ? 429 : 200,
                    ["Outcome"] = n % 50 == 0 ? "rate_limited" : "ok", ["InputTokens"] = 1000L, ["OutputTokens"] = 200L, ["CostNanoUsd"] = 3_600_000L,
                    ["Priced"] = true, ["UsageSource"] = "reported", ["DurationMs"] = 800.0 + n % 1000, ["Streamed"] = n % 2 == 0,
                    ["TimeToFirstByteMs"] = 120.0, ["Retries"] = 0, ["EndUser"] = "user-" + (n % 10), ["Tags"] = n % 4 == 0 ? "team-a,batch" : "",
                }));
            }

            await table.SubmitTransactionAsync(actions, ct);
        }
    });
    stored = size;
    seed.Stop();

    // The seeded history is older than the fold's watermark (real writers never write behind it), so start the
    // fold over: drop the aggregate rows and let the first scrape fold the whole history again.
    var aggregates = service.GetTableClient("LlmAggregates");
    await aggregates.CreateIfNotExistsAsync();
    await foreach (var e in aggregates.QueryAsync<TableEntity>(select: ["PartitionKey", "RowKey"]))
    {
        await aggregates.DeleteEntityAsync(e.PartitionKey, e.RowKey);
    }

    // Fold as the timer does (each run folds up to ten steps) until the state holds every record, then scrape.
    Console.Error.WriteLine($"seeded {size:N0} in {seed.Elapsed.TotalSeconds:0.0} s; folding");
    var handlers = app.Services.GetRequiredService<LlmFunctionsHandlers>();
    var fold = Stopwatch.StartNew();
    for (long folded = 0; folded < size;)
    {
        await handlers.BudgetRollupAsync(CancellationToken.None);
        var state = await aggregates.GetEntityIfExistsAsync<TableEntity>("state", "v1", ["FoldedRecords"]);
        folded = state.HasValue ? state.Value!.GetInt64("FoldedRecords") ?? 0 : 0;
        Console.Error.WriteLine($"  {fold.Elapsed.TotalSeconds:0.0} s: {folded:N0} folded");
    }

    fold.Stop();
    if (seedOnly)
    {
        Console.WriteLine($"seeded and folded {size:N0} records in {seed.Elapsed.TotalSeconds + fold.Elapsed.TotalSeconds:0} s");
        break;
    }

    var first = await http.GetStringAsync("/metrics");
    if (!first.Contains("llm_metering_unfolded_records 0\n", StringComparison.Ordinal))
    {
        throw new InvalidOperationException("records left unfolded after the fold");
    }

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

    var today = 0;
    await foreach (var _ in service.GetTableClient("LlmCalls" + DateTimeOffset.UtcNow.ToString("yyyyMMdd", CultureInfo.InvariantCulture))
        .QueryAsync<TableEntity>(select: ["PartitionKey"]))
    {
        today++;
    }

    var days = (int)Math.Ceiling((double)size / perDay);
    var firstDay = (now.AddMinutes(-5) - (size - 1) * spacing).UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
    var byClient = await TimeSpendAsync($"/spend?from={firstDay}&group_by=day,client,model", size);
    var byUserTag = await TimeSpendAsync($"/spend?from={firstDay}&group_by=user,tag", size);
    Console.WriteLine($"| {size:N0} | {days} | {seed.Elapsed.TotalSeconds:0.0} | {fold.Elapsed.TotalSeconds:0.0} | {times[24]:0.00} | {times[48]:0.00} "
        + $"| {times[^1]:0.00} | {bytes / 1024.0:0.0} | {today:N0} | {byClient.P50:0.0} / {byClient.Max:0.0} | {byClient.Rows:N0} "
        + $"| {byUserTag.P50:0.0} / {byUserTag.Max:0.0} | {byUserTag.Rows:N0} |");
}

await app.StopAsync();

// Times 20 reports over the whole history (the first warms up) and checks that each counts every seeded call once.
async Task<(double P50, double Max, int Rows)> TimeSpendAsync(string path, int expectedCalls)
{
    var spendTimes = new List<double>();
    var rows = 0;
    for (var i = 0; i < 21; i++)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, path);
        message.Headers.Authorization = new("Bearer", "sk-bench-admin");
        var sw = Stopwatch.StartNew();
        using var response = await http.SendAsync(message);
        var body = await response.Content.ReadAsStringAsync();
        sw.Stop();
        var report = System.Text.Json.Nodes.JsonNode.Parse(body)!;
        if (report["total"]?["calls"]?.GetValue<long>() != expectedCalls)
        {
            throw new InvalidOperationException($"{path}: the report does not count {expectedCalls} calls: {body[..Math.Min(300, body.Length)]}");
        }

        rows = report["data"]!.AsArray().Count;
        if (i > 0)
        {
            spendTimes.Add(sw.Elapsed.TotalMilliseconds);
        }
    }

    spendTimes.Sort();
    return (spendTimes[spendTimes.Count / 2], spendTimes[^1], rows);
}
