using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using LlmFunctions.Tests.Infrastructure;
using Xunit.Abstractions;
using static LlmFunctions.Tests.Infrastructure.KeysAdmin;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// Rotation and revocation while clients keep calling, on two instances: the host under test and a second local one
/// on the same storage. Every loop targets loopback and stops by itself (bounded in time). Their windows are judged by
/// the clock, and their callers load the machine: they run alone, as the other timing-sensitive tests do.
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class VirtualKeysUnderLoadTests(ITestOutputHelper output)
{
    /// <summary>Calls <c>GET /v1/models</c> on each host with the secret <paramref name="secret"/> returns, until told to stop.</summary>
    private static Task[] Callers(ITestHost[] hosts, int perHost, Func<string> secret, ConcurrentQueue<(TimeSpan At, string Host, string Secret, HttpStatusCode Status)> log,
        Stopwatch clock, CancellationToken stop) =>
        [.. hosts.SelectMany(host => Enumerable.Range(0, perHost).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested && clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                var key = secret();
                var sent = clock.Elapsed; // stamped when sent: a slow answer is judged by when it was asked
                var status = await ProbeAsync(host, key);
                log.Enqueue((sent, host.Kind + "@" + host.BaseUrl, key, status));
            }
        })))];

    [Theory]
    [OnBothHosts]
    public async Task RotateUnderLoad_NoCallWithEitherSecretIsRefusedInsideTheGrace_TheOldOneIsAfterIt(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(s => { WithAdmin(s); s["Proxy:RequestsPerMinute"] = null; }, kind: kind);
        await using var other = await env.StartHostAsync();
        var (id, oldSecret) = await CreateAsync(env.Host, """{"name":"rotating"}""");
        await TimeUntilAsync(other, oldSecret, HttpStatusCode.OK, TimeSpan.FromSeconds(5));

        var log = new ConcurrentQueue<(TimeSpan At, string Host, string Secret, HttpStatusCode Status)>();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        string? newSecret = null;
        var useNew = 0;
        // Half the callers keep the old secret throughout; the others take the new one as soon as the rotation returns it.
        var callers = Callers([env.Host, other], 2, () => oldSecret, log, clock, stop.Token)
            .Concat(Callers([env.Host, other], 2, () => Volatile.Read(ref useNew) == 1 ? newSecret! : oldSecret, log, clock, stop.Token)).ToArray();
        await Task.Delay(500);
        var (rotateAt, rotateSentAt) = (clock.Elapsed, DateTimeOffset.UtcNow);
        var (_, rotation, _) = await SendAsync(other, HttpMethod.Post, $"/keys/{id}/rotate", """{"grace_seconds":4}""");
        newSecret = rotation["key"]!.GetValue<string>();
        Volatile.Write(ref useNew, 1);
        // The grace ends 4 s after the server made the change (later than when it was asked for, by the rotation's own
        // round trip): its answer says when, on the clock this machine's processes share.
        var graceEnds = rotateAt + (rotation["previous_key_valid_until"]!.GetValue<DateTimeOffset>() - rotateSentAt);
        Assert.InRange(graceEnds - rotateAt, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(10));
        await Task.Delay(TimeSpan.FromTicks(Math.Max(0, (graceEnds - clock.Elapsed + TimeSpan.FromSeconds(4)).Ticks))); // past the grace and a refresh
        await stop.CancelAsync();
        await Task.WhenAll(callers);

        var calls = log.ToArray();
        foreach (var c in calls.Where(c => c.Status != HttpStatusCode.OK).Take(5))
        {
            output.WriteLine($"refused: {c.At.TotalMilliseconds:0} ms {c.Host} {(c.Secret == oldSecret ? "old" : "new")} {(int)c.Status}; rotated at {rotateAt.TotalMilliseconds:0} ms");
        }

        // A call is judged when it arrives, up to a second after it was sent on a loaded machine: the margin is that second.
        var inGrace = calls.Where(c => c.At < graceEnds - TimeSpan.FromSeconds(1)).ToArray();
        Assert.All(inGrace, c => Assert.Equal(HttpStatusCode.OK, c.Status));
        Assert.All(calls.Where(c => c.Secret == newSecret), c => Assert.Equal(HttpStatusCode.OK, c.Status));
        var afterGrace = calls.Where(c => c.Secret == oldSecret && c.At > graceEnds + TimeSpan.FromSeconds(3)).ToArray();
        Assert.NotEmpty(afterGrace);
        Assert.All(afterGrace, c => Assert.Equal(HttpStatusCode.Unauthorized, c.Status));
        output.WriteLine($"{kind}: {calls.Length} calls on two instances, {inGrace.Length} inside the grace (all 200), "
            + $"{calls.Count(c => c.Secret == newSecret)} with the new secret (all 200), {afterGrace.Length} with the old one after it (all 401).");
    }

    [Theory]
    [OnBothHosts]
    public async Task RevokeUnderLoad_IsRefusedOnEveryInstanceWithinFiveSeconds(HostKind kind)
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin, kind: kind);
        await using var other = await env.StartHostAsync();
        var (id, secret) = await CreateAsync(env.Host, """{"name":"revoked-under-load"}""");
        await TimeUntilAsync(other, secret, HttpStatusCode.OK, TimeSpan.FromSeconds(5));

        var log = new ConcurrentQueue<(TimeSpan At, string Host, string Secret, HttpStatusCode Status)>();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var callers = Callers([env.Host, other], 3, () => secret, log, clock, stop.Token);
        await Task.Delay(500);
        var revokeAt = clock.Elapsed;
        var (status, _, _) = await SendAsync(env.Host, HttpMethod.Delete, "/keys/" + id);
        Assert.Equal(HttpStatusCode.OK, status);
        await Task.Delay(TimeSpan.FromSeconds(6));
        await stop.CancelAsync();
        await Task.WhenAll(callers);

        var calls = log.ToArray();
        var lastOk = calls.Where(c => c.Status == HttpStatusCode.OK).Max(c => c.At);
        Assert.True(lastOk - revokeAt < TimeSpan.FromSeconds(5), $"a call succeeded {(lastOk - revokeAt).TotalSeconds:0.00} s after the revocation");
        var later = calls.Where(c => c.At > revokeAt + TimeSpan.FromSeconds(5)).ToArray();
        Assert.NotEmpty(later);
        Assert.All(later, c => Assert.Equal(HttpStatusCode.Unauthorized, c.Status));
        Assert.Equal(2, later.Select(c => c.Host).Distinct().Count());
        Assert.All(calls, c => Assert.True(c.Status is HttpStatusCode.OK or HttpStatusCode.Unauthorized, c.Status.ToString()));
        output.WriteLine($"{kind}: {calls.Length} calls; the last one let through came {(lastOk - revokeAt).TotalMilliseconds:0} ms after the revocation "
            + "was asked for (the DELETE's own round trip included).");
    }
}
