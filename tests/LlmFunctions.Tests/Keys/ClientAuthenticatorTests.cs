using System.Security.Cryptography;
using System.Text;
using LlmFunctions.Core.Keys;
using LlmFunctions.Core.Security;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Keys;

public sealed class ClientAuthenticatorTests
{
    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Clients:alpha:Key"] = "sk-alpha",
        ["Clients:beta:KeySha256"] = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes("sk-beta"))).ToLowerInvariant(),
    };

    private static async Task<(InMemoryCore Core, ClientAuthenticator Authenticator)> StartAsync(params VirtualKey[] keys)
    {
        var core = new InMemoryCore(new InMemoryTables(), new FakeTimeProvider(DateTimeOffset.Parse("2026-12-07T10:00:00Z")), Settings);
        core.Get<KeyDirectory>().Load(keys, keys.Length);
        return (core, core.Get<ClientAuthenticator>());
    }

    internal static VirtualKey Key(string name, string secret, DateTimeOffset now) => new()
    {
        Id = "key_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..24],
        Name = name,
        KeySha256 = Convert.ToHexStringLower(BearerKey.HashOf(secret)),
        CreatedAt = now,
        UpdatedAt = now,
        Seq = 1,
    };

    [Theory]
    [InlineData("Bearer sk-alpha", "alpha")]
    [InlineData("bearer sk-beta", "beta")]
    [InlineData("Bearer  sk-alpha ", "alpha")]
    [InlineData("Bearer sk-virtual", "team-a")]
    [InlineData("Bearer sk-alph", null)]
    [InlineData("Basic sk-alpha", null)]
    [InlineData("sk-alpha", null)]
    [InlineData("Bearer ", null)]
    [InlineData(null, null)]
    public async Task Authenticate_FindsTheClientBySettingsKeyHashOrVirtualKey(string? header, string? expected)
    {
        var (core, authenticator) = await StartAsync(Key("team-a", "sk-virtual", DateTimeOffset.Parse("2026-12-07T10:00:00Z")));
        await using (core)
        {
            var check = await authenticator.AuthenticateAsync(header, CancellationToken.None);
            Assert.Equal(expected, check.Client);
            Assert.Equal(expected is null, check.Refusal is not null);
        }
    }

    [Fact]
    public async Task Authenticate_VeryLongHeader_IsRefused()
    {
        var (core, authenticator) = await StartAsync();
        await using (core)
        {
            Assert.Equal("invalid_api_key", (await authenticator.AuthenticateAsync("Bearer " + new string('a', 100_000), default)).Refusal!.Code);
        }
    }

    [Fact]
    public async Task ExpiredRevokedAndRotatedKeys_AreRefusedByName_NeverBySecret()
    {
        var now = DateTimeOffset.Parse("2026-12-07T10:00:00Z");
        var expired = Key("expired", "sk-expired-secret", now) with { ExpiresAt = now.AddSeconds(-1) };
        var revoked = Key("revoked", "sk-revoked-secret", now) with { RevokedAt = now.AddMinutes(-5) };
        var rotated = Key("rotated", "sk-rotated-new", now) with
        {
            PreviousKeySha256 = Convert.ToHexStringLower(BearerKey.HashOf("sk-rotated-old")), PreviousValidUntil = now.AddSeconds(30), RotatedAt = now,
        };
        var (core, authenticator) = await StartAsync(expired, revoked, rotated);
        await using (core)
        {
            var e = (await authenticator.AuthenticateAsync("Bearer sk-expired-secret", default)).Refusal!;
            Assert.Equal((401, "key_expired"), (e.Status, e.Code));
            Assert.Contains(expired.Id, e.Message);
            Assert.DoesNotContain("sk-expired", e.Message);
            var r = (await authenticator.AuthenticateAsync("Bearer sk-revoked-secret", default)).Refusal!;
            Assert.Equal((401, "key_revoked"), (r.Status, r.Code));
            Assert.Contains(revoked.Id, r.Message);

            // Inside the grace both secrets work; after it, the old one is refused, naming the key.
            Assert.Equal("rotated", (await authenticator.AuthenticateAsync("Bearer sk-rotated-old", default)).Client);
            Assert.Equal("rotated", (await authenticator.AuthenticateAsync("Bearer sk-rotated-new", default)).Client);
            core.Time.Advance(TimeSpan.FromSeconds(30));
            var old = (await authenticator.AuthenticateAsync("Bearer sk-rotated-old", default)).Refusal!;
            Assert.Equal((401, "key_rotated"), (old.Status, old.Code));
            Assert.Contains(rotated.Id, old.Message);
            Assert.DoesNotContain("sk-rotated", old.Message);
            Assert.Equal("rotated", (await authenticator.AuthenticateAsync("Bearer sk-rotated-new", default)).Client);
        }
    }

    [Fact]
    public async Task BeforeTheFirstRead_AVirtualKeyWaits_ASettingsKeyDoesNot()
    {
        await using var core = new InMemoryCore(new InMemoryTables(), new FakeTimeProvider(DateTimeOffset.Parse("2026-12-07T10:00:00Z")), Settings);
        var authenticator = core.Get<ClientAuthenticator>();
        Assert.Equal("alpha", (await authenticator.AuthenticateAsync("Bearer sk-alpha", default)).Client);
        var waiting = authenticator.AuthenticateAsync("Bearer sk-virtual", default).AsTask();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        core.Get<KeyDirectory>().ApplyHere(Key("team-a", "sk-virtual", core.Time.GetUtcNow()));
        await core.Get<KeyDirectory>().RefreshAsync(default); // the first read: nothing stored, the applied key stays
        Assert.Equal("team-a", (await waiting.WaitAsync(TimeSpan.FromSeconds(5))).Client);
    }
}
