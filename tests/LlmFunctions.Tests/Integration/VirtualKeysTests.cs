using System.ClientModel;
using System.Net;
using System.Text.Json.Nodes;
using LlmFunctions.Tests.Infrastructure;
using OpenAI.Chat;
using Xunit.Abstractions;
using static LlmFunctions.Tests.Infrastructure.KeysAdmin;

namespace LlmFunctions.Tests.Integration;

/// <summary>Virtual keys as an operator and their clients meet them: the admin API, the official SDK, two instances.</summary>
public sealed class VirtualKeysTests(ITestOutputHelper output)
{
    [Theory]
    [OnBothHosts]
    public async Task CreateCallPatchRotateRevoke_WithTheSdk_AndEveryChangeIsAudited(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin, kind: kind);
        var (id, secret) = await CreateAsync(env.Host, """{"name":"team-search","models":["gpt-4.1*"],"metadata":{"owner":"search@example.com"}}""");
        Assert.Matches("^key_[0-9a-f]{24}$", id);
        Assert.StartsWith("sk-lf-", secret, StringComparison.Ordinal);

        // The SDK, with the key created a moment ago: billed to the key's name.
        var completion = await env.OpenAI(secret).GetChatClient("gpt-4.1-mini").CompleteChatAsync([new UserChatMessage("hello")]);
        Assert.Equal(ChatFinishReason.Stop, completion.Value.FinishReason);
        Assert.Equal("team-search", (await env.SingleRecordAsync()).GetString("Client"));

        // Models outside the list: 403 before the upstream sees the call.
        var refused = await Assert.ThrowsAsync<ClientResultException>(() =>
            env.OpenAI(secret).GetChatClient("gpt-4o").CompleteChatAsync([new UserChatMessage("hello")]));
        Assert.Equal(403, refused.Status);
        Assert.Contains("model_not_allowed", refused.Message, StringComparison.Ordinal);

        // Read: everything but the secret, the settings' clients too.
        var (_, list, listText) = await SendAsync(env.Host, HttpMethod.Get, "/keys");
        Assert.Equal(["alpha", "beta", "team-search"], list["data"]!.AsArray().Select(k => k!["name"]!.GetValue<string>()));
        Assert.Equal("settings", list["data"]![0]!["source"]!.GetValue<string>());
        Assert.DoesNotContain(secret, listText, StringComparison.Ordinal);
        Assert.DoesNotContain("sha256", listText, StringComparison.OrdinalIgnoreCase);

        var (patched, patch, patchText) = await SendAsync(env.Host, HttpMethod.Patch, "/keys/" + id, """{"models":["gpt-4o"],"rpm":100}""");
        Assert.True(patched == HttpStatusCode.OK, patchText);
        Assert.Equal(100, patch["rpm"]!.GetValue<int>());
        await env.OpenAI(secret).GetChatClient("gpt-4o").CompleteChatAsync([new UserChatMessage("now allowed")]);

        var (rotated, rotation, _) = await SendAsync(env.Host, HttpMethod.Post, $"/keys/{id}/rotate", """{"grace_seconds":60}""");
        Assert.Equal(HttpStatusCode.OK, rotated);
        var newSecret = rotation["key"]!.GetValue<string>();
        Assert.Equal(id, rotation["id"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, await ProbeAsync(env.Host, secret)); // the old one, inside its grace
        Assert.Equal(HttpStatusCode.OK, await ProbeAsync(env.Host, newSecret));

        var (revoked, revocation, _) = await SendAsync(env.Host, HttpMethod.Delete, "/keys/" + id);
        Assert.Equal(HttpStatusCode.OK, revoked);
        Assert.Equal("revoked", revocation["status"]!.GetValue<string>());
        foreach (var s in new[] { secret, newSecret })
        {
            using var http = env.Host.CreateHttpClient(s);
            using var response = await http.GetAsync("/v1/models");
            var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
            Assert.Equal((HttpStatusCode.Unauthorized, "key_revoked"), (response.StatusCode, error["code"]!.GetValue<string>()));
            Assert.Contains(id, error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        }

        var (_, events, eventsText) = await SendAsync(env.Host, HttpMethod.Get, $"/keys/{id}/events?limit=3");
        Assert.Equal(["create", "patch", "rotate"], events["data"]!.AsArray().Select(e => e!["action"]!.GetValue<string>()));
        Assert.True(events["has_more"]!.GetValue<bool>());
        Assert.Equal("""{"from":["gpt-4.1*"],"to":["gpt-4o"]}""", events["data"]![1]!["changes"]!["models"]!.ToJsonString());
        Assert.StartsWith("admin-key:", events["data"]![0]!["caller"]!.GetValue<string>(), StringComparison.Ordinal);
        var (_, rest, restText) = await SendAsync(env.Host, HttpMethod.Get, $"/keys/{id}/events?after={events["next"]}");
        Assert.Equal(["revoke"], rest["data"]!.AsArray().Select(e => e!["action"]!.GetValue<string>()));
        foreach (var text in new[] { eventsText, restText, env.Host.Log })
        {
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(newSecret, text, StringComparison.Ordinal);
        }

        // The name stays taken after the key is revoked: records and reports keep one client per name.
        var (again, taken, _) = await SendAsync(env.Host, HttpMethod.Post, "/keys", """{"name":"team-search"}""");
        Assert.Equal((HttpStatusCode.Conflict, "name_taken"), (again, taken["error"]!["code"]!.GetValue<string>()));
    }

    [Theory]
    [OnBothHosts]
    public async Task AChangeOnOneInstance_TakesEffectOnTheOther_WithinFiveSeconds(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin, kind: kind);
        await using var other = await env.StartHostAsync();
        Assert.Equal(HttpStatusCode.Unauthorized, await ProbeAsync(other, "sk-lf-not-a-key")); // the other has read the keys once

        // The SDK on the other instance, the moment the key exists: a key it does not know makes it read the changes first.
        var (id, secret) = await CreateAsync(env.Host, """{"name":"team-b"}""");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var sdk = await TestEnvironment.OpenAIFor(other, secret).GetChatClient("gpt-4.1").CompleteChatAsync([new UserChatMessage("hi")]);
        var created = watch.Elapsed;
        Assert.Equal(ChatFinishReason.Stop, sdk.Value.FinishReason);

        var (_, rotation, _) = await SendAsync(other, HttpMethod.Post, $"/keys/{id}/rotate", """{"grace_seconds":0}""");
        var rotated = await TimeUntilAsync(env.Host, secret, HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(5));
        Assert.Equal(HttpStatusCode.OK, await ProbeAsync(env.Host, rotation["key"]!.GetValue<string>()));

        await SendAsync(env.Host, HttpMethod.Delete, "/keys/" + id);
        var revoked = await TimeUntilAsync(other, rotation["key"]!.GetValue<string>(), HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(5));
        output.WriteLine($"{kind}: created → the SDK's first call on the other instance answered in {created.TotalMilliseconds:0} ms; "
            + $"rotated → old secret refused in {rotated.TotalMilliseconds:0} ms; revoked → refused in {revoked.TotalMilliseconds:0} ms.");
    }

    [Theory]
    [OnBothHosts]
    public async Task AnExpiredKey_Gets401KeyExpired_NamingItsIdNeverItsSecret(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin, kind: kind);
        // The Functions worker runs on the system clock, so this waits for the expiry; 8 s leave room for a loaded machine.
        var expiresAt = DateTimeOffset.UtcNow.AddSeconds(8);
        var expires = expiresAt.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);
        var (id, secret) = await CreateAsync(env.Host, $$"""{"name":"temp","expires_at":"{{expires}}"}""");
        Assert.Equal(HttpStatusCode.OK, await ProbeAsync(env.Host, secret));
        await Task.Delay(TimeSpan.FromTicks(Math.Max(0, (expiresAt - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(200)).Ticks)));

        using var http = env.Host.CreateHttpClient(secret);
        using var response = await http.GetAsync("/v1/models");
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("key_expired", JsonNode.Parse(text)!["error"]!["code"]!.GetValue<string>());
        Assert.Contains(id, text, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
    }

    [Theory]
    [OnBothHosts]
    public async Task AKeysRpm_Answers429WithRetryAfter_AndItsBudgetBlocksAndShowsInSpendMe(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin, kind: kind);
        var (_, limited) = await CreateAsync(env.Host, """{"name":"rpm-2","rpm":2}""");
        Assert.Equal(HttpStatusCode.OK, await ProbeAsync(env.Host, limited));
        Assert.Equal(HttpStatusCode.OK, await ProbeAsync(env.Host, limited));
        using (var http = env.Host.CreateHttpClient(limited))
        using (var third = await http.GetAsync("/v1/models"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
            Assert.InRange(int.Parse(third.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture), 1, 60);
            Assert.Contains("rate_limit_exceeded", await third.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // A budget far below one call's cost: the first call goes through (spend is judged before it), the next is blocked.
        var (budgetId, budgeted) = await CreateAsync(env.Host, """{"name":"capped","budget":{"limit_usd":0.000001,"period":"day"}}""");
        var chat = env.OpenAI(budgeted).GetChatClient("gpt-4.1");
        await chat.CompleteChatAsync([new UserChatMessage("spend")]);
        await env.RecordsAsync(1);
        var blocked = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("again")]));
        Assert.Equal(429, blocked.Status);
        Assert.Contains("key:" + budgetId, blocked.Message, StringComparison.Ordinal);
        Assert.True(blocked.GetRawResponse()!.Headers.TryGetValue("x-llm-budget-remaining-usd", out var left));
        Assert.Equal("0.000000", left);

        var (status, me, _) = await SendAsync(env.Host, HttpMethod.Get, "/spend/me", key: budgeted);
        Assert.Equal(HttpStatusCode.OK, status);
        var budget = Assert.Single(me["budgets"]!.AsArray(), b => b!["name"]!.GetValue<string>() == "key:" + budgetId)!;
        Assert.Equal(0.000001m, budget["limit_usd"]!.GetValue<decimal>());
    }

    [Theory]
    [OnBothHosts]
    public async Task RpmAndTpm_AreEnforcedPerInstance_TwoInstancesAdmitTwiceTheLimit_AndNoMore(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin, kind: kind);
        await using var other = await env.StartHostAsync();
        var (_, secret) = await CreateAsync(env.Host, """{"name":"rpm-10","rpm":10}""");
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 40; i++)
        {
            statuses.Add(await ProbeAsync(i % 2 == 0 ? env.Host : other, secret));
        }

        Assert.Equal(20, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(20, statuses.Count(s => s == HttpStatusCode.TooManyRequests));

        // tpm: a call that could never fit is a 400; one that does not fit now is a 429 until the minute moves on.
        var (_, tokens) = await CreateAsync(env.Host, """{"name":"tpm-600","tpm":600}""");
        var chat = env.OpenAI(tokens).GetChatClient("gpt-4.1");
        var never = await Assert.ThrowsAsync<ClientResultException>(() =>
            chat.CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = 1_000 }));
        Assert.Equal(400, never.Status);
        Assert.Contains("tokens_exceed_tpm", never.Message, StringComparison.Ordinal);
        using var http = env.Host.CreateHttpClient(tokens);
        using var slow = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"gpt-4.1","max_tokens":400,"messages":[{"role":"user","content":"hi"}]}""",
                System.Text.Encoding.UTF8, "application/json"),
        };
        slow.Headers.Add("x-fake-scenario", "delay-ms=1500");
        var inFlight = http.SendAsync(slow); // its estimate (400 and the prompt) counts until it ends
        await TestEnvironment.WaitForCallsInFlightAsync(env.Host, 1, TimeSpan.FromSeconds(10));
        var later = await Assert.ThrowsAsync<ClientResultException>(() =>
            chat.CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = 400 }));
        Assert.Equal(429, later.Status);
        Assert.True(later.GetRawResponse()!.Headers.TryGetValue("Retry-After", out _));
        using var done = await inFlight;
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);

        // Settled to its usage (a few dozen tokens), it gave the rest back: the same call fits now.
        await chat.CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = 400 });
    }

    [Theory]
    [OnBothHosts]
    public async Task AKeysReservedBudget_RefusesACallWhoseWorstCaseItCannotCover(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin, kind: kind);
        var (id, secret) = await CreateAsync(env.Host, """{"name":"reserved","budget":{"limit_usd":0.01,"period":"month","reserve":true}}""");
        var chat = env.OpenAI(secret).GetChatClient("gpt-4.1");
        await chat.CompleteChatAsync([new UserChatMessage("small")], new ChatCompletionOptions { MaxOutputTokenCount = 50 });
        var refused = await Assert.ThrowsAsync<ClientResultException>(() =>
            chat.CompleteChatAsync([new UserChatMessage("large")], new ChatCompletionOptions { MaxOutputTokenCount = 100_000 }));
        Assert.Equal(429, refused.Status);
        Assert.Contains($"Budget 'key:{id}'", refused.Message, StringComparison.Ordinal);
        Assert.Contains("reserved", refused.Message, StringComparison.Ordinal);
    }
}
