using LlmFunctions.FakeUpstream;
using System.Net;
using System.Text;
using Azure.Data.Tables;
using LlmFunctions.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LlmFunctions.Tests.Integration;

/// <summary>Keys never leak; hostile input never becomes a 5xx of ours; per-client rate limits.</summary>
public sealed class SecurityTests(ITestOutputHelper output)
{
    private const string Prompt = "PROMPT-CANARY-7f3a do not store me";
    private const string Completion = "metering"; // a word the fake upstream generates

    [Theory]
    [OnBothHosts]
    public async Task FullRun_NeverWritesAKeyOrPromptToLogsRecordsOrErrorBodies(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(s => s["Upstream:TimeoutSeconds"] = "1", kind: kind);
        var bodies = new StringBuilder();
        using var http = env.Host.CreateHttpClient();
        using var wrong = env.Host.CreateHttpClient("sk-wrong-key-canary-91b2");
        string[] scenarios = ["", "status=429", "status=500", "status=502", "delay-ms=1500", "reset=2", "no-usage", "malformed-json", "malformed-sse"];
        foreach (var scenario in scenarios)
        {
            foreach (var stream in new[] { false, true })
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
                {
                    Content = new StringContent(
                        $$"""{"model":"gpt-4.1","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"{{Prompt}}"}]}""",
                        Encoding.UTF8, "application/json"),
                };
                request.Headers.Add("x-fake-scenario", scenario);
                try
                {
                    using var response = await http.SendAsync(request);
                    bodies.AppendLine(await response.Content.ReadAsStringAsync());
                }
                catch (HttpRequestException)
                {
                    // Aborted streams.
                }
            }
        }

        foreach (var path in new[] { "/v1/chat/completions", "/v1/models", "/metrics" })
        {
            using var response = await wrong.PostAsync(path, new StringContent("{}", Encoding.UTF8, "application/json"));
            bodies.AppendLine(await response.Content.ReadAsStringAsync());
        }

        await env.RecordsAsync(scenarios.Length * 2);
        var records = string.Join('\n', (await env.Azurite.AllCallsAsync()).Select(e => string.Join(';', e.Select(kv => $"{kv.Key}={kv.Value}"))));
        var logs = env.Host.Log; // on Functions: the host's, and the worker's as the host receives them (RpcLog, console)
        Assert.NotEmpty(logs);
        Assert.Contains("status=502", logs, StringComparison.Ordinal); // the logs did capture the run

        foreach (var secret in new[] { ProxyHost.ClientKey, ProxyHost.OtherClientKey, ProxyHost.UpstreamKey, "sk-wrong-key-canary-91b2",
            "scrape-token-for-tests" })
        {
            Assert.DoesNotContain(secret, logs, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, records, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, bodies.ToString(), StringComparison.Ordinal);
        }

        Assert.DoesNotContain(Prompt, logs, StringComparison.Ordinal);
        Assert.DoesNotContain(Prompt, records, StringComparison.Ordinal);
        Assert.DoesNotContain(Completion, records, StringComparison.Ordinal);
        Assert.DoesNotContain(Completion, logs, StringComparison.Ordinal);
    }

    [Theory]
    [OnBothHosts]
    public async Task PerClientRateLimit_Answers429WithRetryAfter_OnlyForThatClient(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(s => s["Clients:alpha:RequestsPerMinute"] = "3", kind: kind);
        using var alpha = env.Host.CreateHttpClient();
        using var beta = env.Host.CreateHttpClient(ProxyHost.OtherClientKey);
        var body = """{"model":"gpt-4.1","messages":[]}""";

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++)
        {
            using var r = await alpha.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
            statuses.Add(r.StatusCode);
            if (r.StatusCode == HttpStatusCode.TooManyRequests)
            {
                Assert.NotNull(r.Headers.RetryAfter?.Delta);
                await ProxyTests.AssertErrorAsync(r, "rate_limit_exceeded");
            }
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        using var other = await beta.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.Equal(4, env.Upstream.Requests);
        var records = await env.RecordsAsync(6);
        Assert.Equal(2, records.Count(r => r.GetString("Outcome") == "rate_limited"));
    }

    [Fact]
    public async Task Fuzz_TenThousandRandomAndMutatedRequests_NoServerErrorOfOursAndFlatMemory()
    {
        // The proxy runs as its own process, so its memory is measured alone.
        await using var azurite = await Azurite.SharedAccountAsync();
        await using var upstream = new FakeOpenAI { RecordRequests = false };
        var settings = ProxyHost.DefaultSettings(await upstream.StartAsync(), azurite.ConnectionString);
        settings["Proxy:MaxRequestBodyBytes"] = "65536";
        await using var host = await ExternalHost.StartAsync(settings);
        var random = new Random(20261127);
        string[] seeds =
        [
            """{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}""",
            """{"model":"gpt-4.1","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"hi"}],"max_tokens":10}""",
            """{"model":"text-embedding-3-small","input":["a","b"]}""",
            """{"model":"gpt-5","input":"hello","stream":true}""",
        ];
        string[] paths = ["/v1/chat/completions", "/v1/embeddings", "/v1/responses", "/v1/completions", "/v1/models", "/v1/x/y",
            "/v1/chat/completions?x=1", "/v1/%00", "/v1/chat/completions/../../", "/v2/zzz"];
        string[] methods = ["POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];
        string[] contentTypes = ["application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x", "application/JSON", ""];
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 8 })
        {
            BaseAddress = new Uri(host.BaseUrl),
            Timeout = TimeSpan.FromSeconds(30)
        };
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var total = 10_000;
        var inputs = Enumerable.Range(0, total).Select(i => Mutate(random, seeds[random.Next(seeds.Length)], i)).ToList();
        var meta = Enumerable.Range(0, total).Select(_ => (Path: paths[random.Next(paths.Length)], Method: methods[random.Next(methods.Length)],
            Type: contentTypes[random.Next(contentTypes.Length)], Auth: random.Next(10), Junk: random.Next(6))).ToList();
        double memoryAt2k = 0;

        await Parallel.ForEachAsync(Enumerable.Range(0, total), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
        {
            if (i == 2000)
            {
                memoryAt2k = host.MemoryMb();
            }

            var (path, method, type, auth, junk) = meta[i];
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (method is not ("GET" or "HEAD" or "OPTIONS"))
            {
                var content = new ByteArrayContent(inputs[i]);
                if (type.Length > 0)
                {
                    content.Headers.TryAddWithoutValidation("Content-Type", type);
                }

                request.Content = content;
            }

            request.Headers.TryAddWithoutValidation("Authorization", auth switch
            {
                0 => "Bearer",
                1 => "Basic " + Convert.ToBase64String(inputs[i].Take(12).ToArray()),
                2 => "Bearer " + new string('k', 2000),
                _ => "Bearer " + ProxyHost.ClientKey,
            });
            if (junk == 0)
            {
                request.Headers.TryAddWithoutValidation("x-junk-" + i, new string((char)('a' + (i % 26)), 100));
                request.Headers.TryAddWithoutValidation("X-Forwarded-Host", "evil.example");
                request.Headers.TryAddWithoutValidation("stream_options", "include_usage");
            }

            try
            {
                using var response = await http.SendAsync(request, ct);
                var answer = await response.Content.ReadAsByteArrayAsync(ct);
                if ((int)response.StatusCode >= 500)
                {
                    failures.Enqueue($"{method} {path} {type} → {(int)response.StatusCode} {Encoding.UTF8.GetString(answer.Take(150).ToArray())}: "
                        + $"{Encoding.UTF8.GetString(inputs[i].Take(200).ToArray())}");
                }
            }
            catch (HttpRequestException ex)
            {
                failures.Enqueue($"{method} {path} → connection error {ex.Message}");
            }
        });

        var memoryAtEnd = host.MemoryMb();
        output.WriteLine($"fuzz: {total} requests, {failures.Count} failures, proxy RSS {memoryAt2k:0} MB at 2k → {memoryAtEnd:0} MB at 10k, "
            + $"peak {host.PeakMemoryMb():0} MB");
        Assert.True(failures.IsEmpty, string.Join('\n', failures.Take(20)) + "\n" + host.Child.Output[^Math.Min(3000, host.Child.Output.Length)..]);
        Assert.True(memoryAtEnd - memoryAt2k < 40, $"proxy memory grew {memoryAtEnd - memoryAt2k:0} MB between 2k and 10k requests");

        // The host is still fine.
        using var health = await http.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    private static byte[] Mutate(Random random, string seed, int i)
    {
        var bytes = Encoding.UTF8.GetBytes(seed).ToList();
        switch (i % 8)
        {
            case 0:
                return bytes.ToArray();
            case 1:
                // Random bytes.
                var noise = new byte[random.Next(0, 512)];
                random.NextBytes(noise);
                return noise;
            case 2:
                // Truncated.
                return bytes.Take(random.Next(0, bytes.Count)).ToArray();
            case 3:
                // Flipped bytes.
                for (var k = 0; k < 5; k++)
                {
                    var at = random.Next(bytes.Count);
                    bytes[at] = (byte)random.Next(256);
                }

                return bytes.ToArray();
            case 4:
                // Wrong types in known fields.
                string[] swaps = ["\"model\":42", "\"model\":null", "\"model\":{\"a\":1}", "\"stream\":\"yes\"", "\"stream\":1", "\"messages\":\"x\"",
                    "\"max_tokens\":-1", "\"max_tokens\":1e308", "\"stream_options\":[]"];
                var text = Encoding.UTF8.GetString(bytes.ToArray());
                return Encoding.UTF8.GetBytes(text.Insert(1, swaps[random.Next(swaps.Length)] + ","));
            case 5:
                // Deep nesting.
                var depth = random.Next(10, 300);
                return Encoding.UTF8.GetBytes("{\"model\":\"gpt-4.1\",\"messages\":" + new string('[', depth) + new string(']', depth) + "}");
            case 6:
                // Large but under the limit, and over it.
                return Encoding.UTF8.GetBytes("{\"model\":\"gpt-4.1\",\"messages\":[{\"role\":\"user\",\"content\":\""
                    + new string('z', random.Next(1000, 90_000)) + "\"}]}");
            default:
                // Unicode and escapes.
                return Encoding.UTF8.GetBytes("{\"model\":\"gpt-4.1\\u0000\\ud800\",\"messages\":"
                    + "[{\"role\":\"user\",\"content\":\"\\\"\\\\\u00e9\u4e2d\"}],\"stream\":true}");
        }
    }
}
