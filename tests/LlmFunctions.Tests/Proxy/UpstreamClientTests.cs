using System.Collections.Concurrent;
using System.Net;
using LlmFunctions.Core.Proxy;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Proxy;

/// <summary>
/// Retries, fallback and the client's token in <see cref="UpstreamClient"/>, against a stub handler on a fake clock: a
/// retry's delay passes only when the test moves the clock, so when each request was sent is exact, and a call that
/// completes without a clock move took no delay.
/// </summary>
public sealed class UpstreamClientTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private static readonly byte[] Body = """{"model":"gpt-4.1","messages":[]}"""u8.ToArray();

    [Fact]
    public async Task A429_IsRetriedAfterWhatItsRetryAfterAsked_NotSooner_AndCountsOneRetry()
    {
        var upstream = new StubUpstream(_ => Answer(HttpStatusCode.TooManyRequests, retryAfterSeconds: 7), _ => Answer(HttpStatusCode.OK));
        await using var core = upstream.Core();

        var send = Send(core);
        await core.AdvanceUntilAsync(send, TimeSpan.FromMilliseconds(250));
        var result = await send;

        Assert.Equal((HttpStatusCode.OK, UpstreamFailure.None, 1), (result.Response!.StatusCode, result.Failure, result.Retries));
        Assert.Equal(2, upstream.Sent.Count);

        // Its own delay would be 2 s plus at most 25 %: the 7 s asked for is longer and wins, to within one clock step.
        Assert.InRange(upstream.Sent[1].At - upstream.Sent[0].At, TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(7.25));
    }

    [Theory]
    [InlineData(HttpStatusCode.BadRequest)]
    [InlineData(HttpStatusCode.Unauthorized)]
    [InlineData(HttpStatusCode.InternalServerError)] // a 500 may have run the call: not repeated
    public async Task AnAnswerThatIsNotRetryable_IsRelayedAtOnce(HttpStatusCode status)
    {
        var upstream = new StubUpstream(_ => Answer(status));
        await using var core = upstream.Core();

        var result = await Send(core).WaitAsync(TimeSpan.FromSeconds(10)); // no clock move: no retry delay

        Assert.Equal((status, 0), (result.Response!.StatusCode, result.Retries));
        Assert.Single(upstream.Sent);
    }

    [Fact]
    public async Task EveryAttemptFailing_RetriesUpToMaxRetries_ThenRelaysTheLastAnswer()
    {
        var upstream = new StubUpstream(_ => Answer(HttpStatusCode.BadGateway));
        await using var core = upstream.Core(new() { ["Upstream:MaxRetries"] = "2" });

        var send = Send(core);
        await core.AdvanceUntilAsync(send, TimeSpan.FromMilliseconds(250));
        var result = await send;

        Assert.Equal((HttpStatusCode.BadGateway, 2), (result.Response!.StatusCode, result.Retries));
        Assert.Equal(3, upstream.Sent.Count);

        // 2 s, then 4 s, each plus at most 25 % jitter (and one clock step).
        Assert.InRange(upstream.Sent[1].At - upstream.Sent[0].At, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2.75));
        Assert.InRange(upstream.Sent[2].At - upstream.Sent[1].At, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(5.25));
    }

    [Fact]
    public async Task AConnectFailure_IsRetried_AndAnsweredAsUnreachableWhenItLasts()
    {
        var upstream = new StubUpstream(_ => throw new HttpRequestException(HttpRequestError.ConnectionError, "refused"));
        await using var core = upstream.Core(new() { ["Upstream:MaxRetries"] = "1" });

        var send = Send(core);
        await core.AdvanceUntilAsync(send, TimeSpan.FromMilliseconds(250));
        var result = await send;

        Assert.Equal((null, UpstreamFailure.Unreachable, 1), (result.Response, result.Failure, result.Retries));
        Assert.Equal(2, upstream.Sent.Count);
    }

    [Fact]
    public async Task A503FromTheFirstUpstream_GoesToTheNextAtOnce_WithoutARetryDelay()
    {
        var upstream = new StubUpstream(r => Answer(r.RequestUri!.Host == "a.test" ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK));
        await using var core = upstream.Core(new()
        {
            ["Upstreams:a:BaseUrl"] = "http://a.test/v1", ["Upstreams:a:ApiKey"] = "sk-a", ["Upstreams:a:Models"] = "gpt-4.1",
            ["Upstreams:b:BaseUrl"] = "http://b.test/v1", ["Upstreams:b:ApiKey"] = "sk-b", ["Upstreams:b:Models"] = "gpt-*",
        });

        var result = await Send(core).WaitAsync(TimeSpan.FromSeconds(10)); // no clock move

        Assert.Equal((HttpStatusCode.OK, "b", 2, 0), (result.Response!.StatusCode, result.Upstream, result.UpstreamsTried, result.Retries));
        Assert.Equal(["a.test", "b.test"], upstream.Sent.Select(s => s.Host));
        Assert.Equal(["Bearer sk-a", "Bearer sk-b"], upstream.Sent.Select(s => s.Authorization)); // each its own key
    }

    [Fact]
    public async Task TheClientLeavingDuringARetryWait_EndsTheCall_WithNoFurtherRequest()
    {
        var upstream = new StubUpstream(_ => Answer(HttpStatusCode.TooManyRequests));
        await using var core = upstream.Core();
        using var client = new CancellationTokenSource();

        var send = Send(core, cancellationToken: client.Token);
        while (upstream.Empty)
        {
            await Task.Delay(5);
        }

        await client.CancelAsync();
        var result = await send.WaitAsync(TimeSpan.FromSeconds(10)); // no clock move: the wait ends with the client

        Assert.Equal(UpstreamFailure.ClientCancelled, result.Failure);
        core.Time.Advance(TimeSpan.FromMinutes(1));
        Assert.Single(upstream.Sent);
    }

    [Fact]
    public async Task TheClientsKey_NeverReachesTheUpstream_WhichGetsItsOwn()
    {
        var upstream = new StubUpstream(_ => Answer(HttpStatusCode.OK));
        await using var core = upstream.Core();

        await Send(core, headers: new() { ["Authorization"] = "Bearer sk-client-secret", ["OpenAI-Organization"] = "org-theirs" });

        var sent = Assert.Single(upstream.Sent);
        Assert.Equal("Bearer sk-in-memory-test", sent.Authorization);
        Assert.DoesNotContain("org-theirs", sent.Headers, StringComparison.Ordinal);
    }

    private static Task<UpstreamResult> Send(InMemoryCore core, Dictionary<string, string>? headers = null, CancellationToken cancellationToken = default)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.ContentType = "application/json";
        foreach (var (name, value) in headers ?? [])
        {
            context.Request.Headers[name] = value;
        }

        return core.Get<UpstreamClient>().SendAsync(context.Request, "chat/completions", "gpt-4.1", Body, _ => Body, cancellationToken);
    }

    private static HttpResponseMessage Answer(HttpStatusCode status, int? retryAfterSeconds = null)
    {
        var response = new HttpResponseMessage(status) { Content = new StringContent("{}") };
        if (retryAfterSeconds is { } seconds)
        {
            response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(seconds));
        }

        return response;
    }

    /// <summary>Answers each request with the next of <c>answers</c> (the last one repeats), noting when it came on the fake clock.</summary>
    private sealed class StubUpstream(params Func<HttpRequestMessage, HttpResponseMessage>[] answers)
    {
        private readonly FakeTimeProvider _time = new(Noon);
        private readonly ConcurrentQueue<(DateTimeOffset At, string Host, string? Authorization, string Headers)> _sent = new();

        public bool Empty => _sent.IsEmpty;

        public List<(DateTimeOffset At, string Host, string? Authorization, string Headers)> Sent => [.. _sent];

        public InMemoryCore Core(Dictionary<string, string?>? settings = null) =>
            new(new InMemoryTables(), _time, settings, services => services.AddHttpClient(UpstreamClient.HttpClientName)
                .ConfigurePrimaryHttpMessageHandler(() => new Handler(this)));

        private HttpResponseMessage Respond(HttpRequestMessage request)
        {
            var index = _sent.Count;
            _sent.Enqueue((_time.GetUtcNow(), request.RequestUri!.Host, request.Headers.Authorization?.ToString(), request.Headers.ToString()));
            return answers[Math.Min(index, answers.Length - 1)](request);
        }

        private sealed class Handler(StubUpstream stub) : HttpMessageHandler
        {
            protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
                Task.FromResult(stub.Respond(request));
        }
    }
}
