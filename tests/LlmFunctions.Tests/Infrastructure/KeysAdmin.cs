using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>The admin API of virtual keys as a test drives it: plain HTTP with the admin key, answers as JSON.</summary>
internal static class KeysAdmin
{
    public const string AdminKey = "sk-admin-key-for-key-tests";

    public static void WithAdmin(Dictionary<string, string?> s) =>
        s["Admin:KeySha256"] = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(AdminKey)));

    public static async Task<(HttpStatusCode Status, JsonNode Body, string Text)> SendAsync(ITestHost host, HttpMethod method, string path,
        string? body = null, string? key = AdminKey)
    {
        using var http = host.CreateHttpClient(key);
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? new JsonObject() : JsonNode.Parse(text)!, text);
    }

    /// <summary>Creates a key; its id and secret.</summary>
    public static async Task<(string Id, string Secret)> CreateAsync(ITestHost host, string body)
    {
        var (status, json, text) = await SendAsync(host, HttpMethod.Post, "/keys", body);
        Assert.True(status == HttpStatusCode.Created, $"{(int)status} {text}");
        return (json["id"]!.GetValue<string>(), json["key"]!.GetValue<string>());
    }

    /// <summary>The status of <c>GET /v1/models</c> with <paramref name="key"/>: a call that reaches the upstream, and costs nothing.</summary>
    public static async Task<HttpStatusCode> ProbeAsync(ITestHost host, string key)
    {
        using var http = host.CreateHttpClient(key);
        using var response = await http.GetAsync("/v1/models");
        return response.StatusCode;
    }

    /// <summary>How long until <paramref name="host"/> answers <paramref name="expected"/> for <paramref name="key"/>, polled every 50 ms.</summary>
    public static async Task<TimeSpan> TimeUntilAsync(ITestHost host, string key, HttpStatusCode expected, TimeSpan timeout)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        while (await ProbeAsync(host, key) != expected)
        {
            Assert.True(started.Elapsed < timeout, $"{host.Kind} did not answer {(int)expected} within {timeout.TotalSeconds} s.");
            await Task.Delay(50);
        }

        return started.Elapsed;
    }
}
