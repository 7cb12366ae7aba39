using System.Globalization;
using LlmFunctions.Core.Budgets;
using LlmFunctions.Tests.Infrastructure;
using OpenAI.Chat;
using Xunit.Abstractions;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// Hundreds of budgets (configured ones, or virtual keys' own): their latest figures are read in one query, so a
/// scrape, an enforcer refresh or a reservation's seed costs a page of rows, not a storage read per budget.
/// </summary>
public sealed class BudgetsAtScaleTests(ITestOutputHelper output)
{
    private const int Many = 250;

    private static string Name(int i) => "b" + i.ToString("000", CultureInfo.InvariantCulture);

    /// <summary>Even budgets are global (the call counts), odd ones a client that never calls.</summary>
    private static string Scope(int i) => i % 2 == 0 ? "global" : "client:nobody";

    [Theory]
    [OnBothHosts]
    public async Task HundredsOfBudgets_AreReadInAPageOfRowsPerScrape_AndEachShowsItsOwnSpend(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(s =>
        {
            for (var i = 0; i < Many; i++)
            {
                s[$"Budgets:{Name(i)}:LimitUsd"] = (i + 1).ToString(CultureInfo.InvariantCulture);
                s[$"Budgets:{Name(i)}:Scope"] = Scope(i);
            }
        }, kind: kind);
        await env.OpenAI().GetChatClient("gpt-4.1").CompleteChatAsync([new UserChatMessage("hi")]);
        var spent = Assert.Single(await env.RecordsAsync(1)).GetInt64("CostNanoUsd")!.Value / 1e9;
        Assert.True(spent > 0);

        // The rollup, run on a second instance on the same storage, until it sees the call (another instance's calls reach
        // it with that instance's next flush of its sums); the host under test reads what it wrote.
        await using var other = await env.StartHostAsync();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while ((await other.Get<BudgetRollup>().RunAsync(CancellationToken.None)).Single(b => b.Name == Name(0)).SpentNanoUsd == 0)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), "the rollup did not see the call within 15 s");
            await Task.Delay(200);
        }

        var run = System.Diagnostics.Stopwatch.StartNew();
        await other.Get<BudgetRollup>().RunAsync(CancellationToken.None);
        output.WriteLine($"{kind}: a rollup run with {Many} budgets took {run.Elapsed.TotalMilliseconds:0} ms.");

        var scrape = await MetricsTests.ScrapeAsync(env.Host);
        for (var i = 0; i < Many; i++)
        {
            var series = $"api_budget_spent_usd{{budget=\"{Name(i)}\",scope=\"{Scope(i)}\",period=\"day\"}}";
            Assert.Equal(i % 2 == 0 ? spent : 0, MetricsTests.Value(scrape, series), 9);
        }

        // The fold's state and tail rows (2 to 4, as MetricsTests measures them), and one page of the budgets' rows.
        var requests = MetricsTests.Value(scrape, "llm_metering_scrape_storage_requests");
        output.WriteLine($"{kind}: a scrape with {Many} budgets made {requests} storage requests.");
        Assert.InRange(requests, 2, 6);
    }
}
