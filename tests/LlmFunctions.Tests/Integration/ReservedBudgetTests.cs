using System.ClientModel;
using LlmFunctions.Tests.Infrastructure;
using OpenAI.Chat;
using Xunit.Abstractions;

namespace LlmFunctions.Tests.Integration;

/// <summary>A reserved budget under concurrency on two instances, with the SDK, on Azurite: it cannot be raced.</summary>
public sealed class ReservedBudgetTests(ITestOutputHelper output)
{
    private const decimal Limit = 0.05m;

    /// <summary>A reserved block budget of <see cref="Limit"/> on every call.</summary>
    private static void ReservedBlock(Dictionary<string, string?> s)
    {
        s["Budgets:hard:LimitUsd"] = Limit.ToString(System.Globalization.CultureInfo.InvariantCulture);
        s["Budgets:hard:Action"] = "block";
        s["Budgets:hard:Reserve"] = "true";
    }

    [Theory]
    [OnBothHosts]
    public async Task EightClientsOnTwoInstances_HammeringA005Budget_SpendNoMoreThanIt(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(ReservedBlock, kind: kind);
        await using var second = await env.StartHostAsync();
        ITestHost[] instances = [env.Host, second];
        var prompt = string.Join(' ', Enumerable.Range(0, 400).Select(i => "word" + (i % 37)));
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 300 };
        var served = 0;
        var refused = 0;
        var worstPerCall = 0m;

        async Task ClientAsync(int n)
        {
            var chat = TestEnvironment.OpenAIFor(instances[n % 2], n % 2 == 0 ? ProxyHost.ClientKey : ProxyHost.OtherClientKey).GetChatClient("gpt-4.1");
            for (var i = 0; i < 200; i++)
            {
                try
                {
                    await chat.CompleteChatAsync([new UserChatMessage(prompt)], options);
                    Interlocked.Increment(ref served);
                }
                catch (ClientResultException ex) when (ex.Status == 429)
                {
                    Interlocked.Increment(ref refused);
                    var worst = System.Text.RegularExpressions.Regex.Match(ex.Message,
                        @"Budget 'hard' \(global, day, reserved\) cannot cover this call: up to \$([0-9.]+)");
                    Assert.True(worst.Success, ex.Message);
                    worstPerCall = decimal.Parse(worst.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                    return;
                }
            }

            Assert.Fail("a client was never refused");
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(ClientAsync));

        var records = await env.RecordsAsync(served + refused);
        var spentNano = records.Sum(r => r.GetInt64("CostNanoUsd") ?? 0);
        var spent = spentNano / 1_000_000_000m;

        // The issue's bound is the limit plus the calls in flight when it is reached (8, each at most its worst case); a
        // reserved budget keeps to the limit itself, as long as no call costs more than its worst case.
        output.WriteLine($"{kind}: {served} calls served, {refused} refused; spent ${spent} of ${Limit} (overshoot ${Math.Max(0, spent - Limit)}; "
            + $"in-flight bound 8 × ${worstPerCall} = ${8 * worstPerCall})");
        Assert.True(spent <= Limit, $"spent ${spent}, over the ${Limit} limit");
        Assert.True(spent >= Limit - 3 * (worstPerCall + Limit / 20), $"spent only ${spent} of ${Limit} before refusing (worst ${worstPerCall})");
        Assert.Equal(8, refused);
        Assert.All(records.Where(r => r.GetInt32("StatusCode") == 429), r => Assert.Equal(0, r.GetInt64("CostNanoUsd")));

        // A model without a price has no worst case to reserve: refused, not forwarded.
        var unpriced = await Assert.ThrowsAsync<ClientResultException>(() =>
            TestEnvironment.OpenAIFor(env.Host, ProxyHost.ClientKey).GetChatClient("my-unpriced-model").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(400, unpriced.Status);
        Assert.Contains("model 'my-unpriced-model' has no price", unpriced.Message, StringComparison.Ordinal);
    }

    /// <summary>Issue 25 (6): a call dropped before the upstream answered gives its reservation back at once; it must not
    /// keep a budget full for others (here, its $0.032 worst case held would leave too little of $0.05 for the next).</summary>
    [Theory]
    [OnBothHosts]
    public async Task ACallDroppedBeforeTheUpstreamAnswered_GivesItsReservationBack(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(ReservedBlock, kind: kind);
        using var http = env.Host.CreateHttpClient();
        static HttpRequestMessage Call(string? scenario)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                // Up to 4,000 output tokens of gpt-4.1: a worst case of about $0.032, more than half the limit.
                Content = new StringContent("""{"model":"gpt-4.1","max_tokens":4000,"messages":[{"role":"user","content":"hi"}]}""",
                    System.Text.Encoding.UTF8, "application/json"),
            };
            if (scenario is not null)
            {
                request.Headers.Add("x-fake-scenario", scenario);
            }

            return request;
        }

        using (var leaving = new CancellationTokenSource())
        {
            using var slow = Call("delay-ms=20000");
            var dropped = http.SendAsync(slow, leaving.Token);
            var until = DateTime.UtcNow.AddSeconds(30);
            while (env.Upstream.Requests == 0 && DateTime.UtcNow < until)
            {
                await Task.Delay(20);
            }

            Assert.Equal(1, env.Upstream.Requests); // the upstream has it, and will not answer for 20 s
            await leaving.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => dropped);
        }

        // The dropped call's record (billed its prompt) is written when its handler has ended, reservation settled.
        Assert.Single(await env.RecordsAsync(1));
        using var next = Call(null);
        using var response = await http.SendAsync(next);

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
    }
}
