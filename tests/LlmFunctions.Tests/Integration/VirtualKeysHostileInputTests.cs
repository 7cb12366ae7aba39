using System.Net;
using LlmFunctions.Tests.Infrastructure;
using static LlmFunctions.Tests.Infrastructure.KeysAdmin;

namespace LlmFunctions.Tests.Integration;

/// <summary>What the admin API refuses, each with a clear error in the OpenAI shape, and what it then still holds.</summary>
public sealed class VirtualKeysHostileInputTests
{
    private static readonly string HugeMetadata = "{" + string.Join(",", Enumerable.Range(0, 17).Select(i => $"\"k{i}\":\"v\"")) + "}";

    /// <summary>Bodies of <c>POST /keys</c>, each refused with 400 and a message naming what is wrong.</summary>
    public static readonly TheoryData<string, string> BadCreates = new()
    {
        { """{"name":"a","colour":"red"}""", "Unknown field 'colour'" },
        { """{"name":"a","rpm":-1}""", "'rpm' must be" },
        { """{"name":"a","rpm":0}""", "'rpm' must be" },
        { """{"name":"a","rpm":1.5}""", "'rpm' must be" },
        { """{"name":"a","rpm":"10"}""", "'rpm' must be" },
        { """{"name":"a","tpm":-100}""", "'tpm' must be" },
        { """{"name":"a","budget":{"limit_usd":-5,"period":"day"}}""", "'budget' must be" },
        { """{"name":"a","budget":{"limit_usd":5,"period":"week"}}""", "'budget' must be" },
        { """{"name":"a","budget":{"limit_usd":5,"period":"day","action":"notify","reserve":true}}""", "'budget' must be" },
        { """{"name":"a","budget":{"limit_usd":5,"period":"day","extra":{"deep":[1]}}}""", "'budget' must be" },
        { """{"name":"a","expires_at":"2001-01-01T00:00:00Z"}""", "is not in the future" },
        { """{"name":"a","expires_at":"tomorrow"}""", "'expires_at' must be" },
        { """{"name":"a","expires_at":"2030-01-01"}""", "'expires_at' must be" },
        { """{"name":"a","expires_at":"2030-01-01T00:00:00"}""", "'expires_at' must be" },
        { """{"name":"a","metadata":{"k":"line\u0000break"}}""", "'metadata' must be" },
        { "{\"name\":\"a\",\"models\":[\"" + new string('m', 101) + "\"]}", "'models' must be" },
        { "{\"name\":\"a\",\"metadata\":" + HugeMetadata + "}", "'metadata' must be" },
        { "{\"name\":\"a\",\"metadata\":{\"k\":\"" + new string('x', 513) + "\"}}", "'metadata' must be" },
        { """{"name":"a","metadata":{"k":1}}""", "'metadata' must be" },
        { """{"name":"a","metadata":{"k":{"nested":"x"}}}""", "'metadata' must be" },
        { """{"name":"a","models":"gpt-4o"}""", "'models' must be" },
        { """{"name":"a","models":["gpt-*-mini"]}""", "'models' must be" },
        { """{"name":"a","models":[""]}""", "'models' must be" },
        { """{"name":"acme corp"}""", "'name' must be" },
        { """{"name":""}""", "'name' must be" },
        { "{\"name\":\"" + new string('n', 101) + "\"}", "'name' must be" },
        { """{"name":"a","name":"b"}""", "appears twice" },
        { """{"models":["gpt-4o"]}""", "'name' is required" },
        { """["name"]""", "must be a JSON object" },
        { """{"name":"a",""", "not JSON" },
        { """{"name":"a","budget":{"limit_usd":5,"period":"day","action":{"a":{"b":{"c":1}}}}}""", "not JSON, or is nested deeper" },
    };

    [Theory]
    [OnBothHosts]
    public async Task BadBodies_Get400WithTheReason_AndNothingIsStored(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin, kind: kind);
        foreach (var row in BadCreates)
        {
            var (body, reason) = ((string)row[0], (string)row[1]);
            var (status, json, text) = await SendAsync(env.Host, HttpMethod.Post, "/keys", body);
            Assert.True(status == HttpStatusCode.BadRequest, $"{body}: {(int)status} {text}");
            Assert.Equal("invalid_key_request", json["error"]!["code"]!.GetValue<string>());
            Assert.Contains(reason, json["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        }

        // Over 64 KiB: 413 before it is parsed.
        var (large, tooLarge, _) = await SendAsync(env.Host, HttpMethod.Post, "/keys", "{\"name\":\"a\",\"metadata\":{\"k\":\"" + new string('x', 70_000) + "\"}}");
        Assert.Equal((HttpStatusCode.RequestEntityTooLarge, "request_too_large"), (large, tooLarge["error"]!["code"]!.GetValue<string>()));

        // A settings client's name, and a name another key has: 409.
        var (settingsName, taken, _) = await SendAsync(env.Host, HttpMethod.Post, "/keys", """{"name":"alpha"}""");
        Assert.Equal((HttpStatusCode.Conflict, "name_taken"), (settingsName, taken["error"]!["code"]!.GetValue<string>()));
        var (id, _) = await CreateAsync(env.Host, """{"name":"a"}""");
        var (twice, _, _) = await SendAsync(env.Host, HttpMethod.Post, "/keys", """{"name":"a"}""");
        Assert.Equal(HttpStatusCode.Conflict, twice);

        var (_, list, _) = await SendAsync(env.Host, HttpMethod.Get, "/keys");
        Assert.Equal(["alpha", "beta", "a"], list["data"]!.AsArray().Select(k => k!["name"]!.GetValue<string>()));
        var (_, events, _) = await SendAsync(env.Host, HttpMethod.Get, $"/keys/{id}/events");
        Assert.Single(events["data"]!.AsArray());
    }

    [Theory]
    [OnBothHosts]
    public async Task WrongKeysIdsMethodsAndChanges_AreRefusedInTheOpenAIShape(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin, kind: kind);
        var (id, secret) = await CreateAsync(env.Host, """{"name":"a"}""");
        var settingsId = (await SendAsync(env.Host, HttpMethod.Get, "/keys")).Body["data"]![0]!["id"]!.GetValue<string>();
        var cases = new (HttpMethod Method, string Path, string? Body, string? Key, HttpStatusCode Status, string Code)[]
        {
            (HttpMethod.Get, "/keys", null, null, HttpStatusCode.Unauthorized, "invalid_api_key"),
            (HttpMethod.Get, "/keys", null, ProxyHost.ClientKey, HttpStatusCode.Unauthorized, "invalid_api_key"),
            (HttpMethod.Post, "/keys", """{"name":"b"}""", secret, HttpStatusCode.Unauthorized, "invalid_api_key"),
            (HttpMethod.Put, "/keys", "{}", AdminKey, HttpStatusCode.MethodNotAllowed, "method_not_allowed"),
            (HttpMethod.Get, "/keys/key_000000000000000000000000", null, AdminKey, HttpStatusCode.NotFound, "key_not_found"),
            (HttpMethod.Get, "/keys/" + new string('x', 300), null, AdminKey, HttpStatusCode.NotFound, "key_not_found"),
            (HttpMethod.Get, "/keys?limit=1000", null, AdminKey, HttpStatusCode.BadRequest, "invalid_query"),
            (HttpMethod.Get, "/keys?after=../../x", null, AdminKey, HttpStatusCode.BadRequest, "invalid_query"),
            (HttpMethod.Get, $"/keys/{id}/events?after=-1", null, AdminKey, HttpStatusCode.BadRequest, "invalid_query"),
            (HttpMethod.Patch, $"/keys/{id}", """{"name":"renamed"}""", AdminKey, HttpStatusCode.BadRequest, "invalid_key_request"),
            (HttpMethod.Patch, $"/keys/{id}", """{"grace_seconds":5}""", AdminKey, HttpStatusCode.BadRequest, "invalid_key_request"),
            (HttpMethod.Post, $"/keys/{id}/rotate", """{"grace_seconds":-1}""", AdminKey, HttpStatusCode.BadRequest, "invalid_key_request"),
            (HttpMethod.Post, $"/keys/{id}/rotate", """{"grace_seconds":999999999}""", AdminKey, HttpStatusCode.BadRequest, "invalid_key_request"),
            (HttpMethod.Patch, "/keys/" + settingsId, """{"rpm":5}""", AdminKey, HttpStatusCode.Conflict, "key_read_only"),
            (HttpMethod.Delete, "/keys/" + settingsId, null, AdminKey, HttpStatusCode.Conflict, "key_read_only"),
        };
        foreach (var (method, path, body, key, expected, code) in cases)
        {
            var (status, json, text) = await SendAsync(env.Host, method, path, body, key);
            Assert.True(status == expected, $"{method} {path[..Math.Min(path.Length, 60)]}: {(int)status} {text}");
            Assert.Equal(code, json["error"]!["code"]!.GetValue<string>());
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(AdminKey, text, StringComparison.Ordinal);
        }

        // A second rotation inside the first one's grace would cut it short: refused unless forced.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(env.Host, HttpMethod.Post, $"/keys/{id}/rotate", """{"grace_seconds":600}""")).Status);
        var (again, inGrace, _) = await SendAsync(env.Host, HttpMethod.Post, $"/keys/{id}/rotate", """{"grace_seconds":600}""");
        Assert.Equal((HttpStatusCode.Conflict, "rotation_in_grace"), (again, inGrace["error"]!["code"]!.GetValue<string>()));
        var (forced, forcedKey, _) = await SendAsync(env.Host, HttpMethod.Post, $"/keys/{id}/rotate", """{"force":true}""");
        Assert.Equal(HttpStatusCode.OK, forced);
        secret = forcedKey["key"]!.GetValue<string>();

        // A key limited to some models must name one on a metered call.
        var (_, limited) = await CreateAsync(env.Host, """{"name":"limited","models":["gpt-4.1*"]}""");
        using (var http = env.Host.CreateHttpClient(limited))
        using (var noModel = await http.PostAsync("/v1/responses", new StringContent("""{"input":"hi"}""", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, noModel.StatusCode);
            Assert.Contains("model_not_allowed", await noModel.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // A revoked key cannot change; revoking it again changes nothing and writes no audit row.
        await SendAsync(env.Host, HttpMethod.Delete, "/keys/" + id);
        var (patched, refused, _) = await SendAsync(env.Host, HttpMethod.Patch, "/keys/" + id, """{"rpm":5}""");
        Assert.Equal((HttpStatusCode.Conflict, "key_revoked"), (patched, refused["error"]!["code"]!.GetValue<string>()));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(env.Host, HttpMethod.Delete, "/keys/" + id)).Status);
        var (_, events, _) = await SendAsync(env.Host, HttpMethod.Get, $"/keys/{id}/events");
        Assert.Equal(["create", "rotate", "rotate", "revoke"], events["data"]!.AsArray().Select(e => e!["action"]!.GetValue<string>()));
        Assert.DoesNotContain(secret, env.Host.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutAnAdminKey_TheAdminApiIsOff()
    {
        await using var env = await TestEnvironment.StartAsync();
        var (status, json, _) = await SendAsync(env.Host, HttpMethod.Post, "/keys", """{"name":"a"}""");
        Assert.Equal((HttpStatusCode.Forbidden, "permission_denied"), (status, json["error"]!["code"]!.GetValue<string>()));
        Assert.Contains("Admin__KeySha256", json["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConcurrentAdminCalls_OnTwoInstances_OneNameOneKey_AndEveryChangeKept()
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin);
        await using var other = await env.StartHostAsync();
        for (var i = 0; i < 5; i++)
        {
            // The same name created on both instances at once: storage takes one, the other is told the name is taken.
            var body = $$"""{"name":"race-{{i}}"}""";
            var answers = await Task.WhenAll(SendAsync(env.Host, HttpMethod.Post, "/keys", body), SendAsync(other, HttpMethod.Post, "/keys", body));
            Assert.Equal([HttpStatusCode.Created, HttpStatusCode.Conflict], answers.Select(a => a.Status).Order());
        }

        // Patches of one key from both instances at once: each commits on its own change number, none is lost.
        var (id, _) = await CreateAsync(env.Host, """{"name":"patched"}""");
        var patches = await Task.WhenAll(Enumerable.Range(1, 6).Select(n =>
            SendAsync(n % 2 == 0 ? env.Host : other, HttpMethod.Patch, "/keys/" + id, $$$"""{"metadata":{"n":"{{{n}}}"}}""")));
        Assert.All(patches, p => Assert.Equal(HttpStatusCode.OK, p.Status));
        var (_, events, _) = await SendAsync(env.Host, HttpMethod.Get, $"/keys/{id}/events");
        var seqs = events["data"]!.AsArray().Select(e => e!["seq"]!.GetValue<long>()).ToList();
        Assert.Equal(7, seqs.Distinct().Count());
        Assert.Equal(["create", "patch", "patch", "patch", "patch", "patch", "patch"], events["data"]!.AsArray().Select(e => e!["action"]!.GetValue<string>()));
        var (_, list, _) = await SendAsync(env.Host, HttpMethod.Get, "/keys");
        Assert.Equal(5, list["data"]!.AsArray().Count(k => k!["name"]!.GetValue<string>().StartsWith("race-", StringComparison.Ordinal)));
    }
}
