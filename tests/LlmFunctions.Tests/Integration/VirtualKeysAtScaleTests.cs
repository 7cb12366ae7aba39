using System.Diagnostics;
using System.Net;
using Azure.Data.Tables;
using LlmFunctions.Core.Keys;
using LlmFunctions.Core.Records;
using LlmFunctions.Tests.Infrastructure;
using LlmFunctions.Tests.Keys;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;
using static LlmFunctions.Tests.Infrastructure.KeysAdmin;

namespace LlmFunctions.Tests.Integration;

/// <summary>10,000 virtual keys: start-up does not wait on them, their first read is one paged query, a lookup costs the same.</summary>
[Collection(TimingSensitive.Name)]
public sealed class VirtualKeysAtScaleTests(ITestOutputHelper output)
{
    private const int Many = 10_000;

    private static VirtualKey Numbered(int i, DateTimeOffset now) =>
        ClientAuthenticatorTests.Key("team-" + i, "sk-scale-" + i, now) with { Id = "key_" + i.ToString("x24", System.Globalization.CultureInfo.InvariantCulture), Seq = i + 1 };

    /// <summary>Stores <see cref="Many"/> keys as the admin API would leave them (100 to a transaction).</summary>
    private static async Task SeedAsync(TableClient table)
    {
        await table.CreateIfNotExistsAsync();
        var now = DateTimeOffset.UtcNow;
        foreach (var chunk in Enumerable.Range(0, Many).Chunk(100))
        {
            await table.SubmitTransactionAsync(chunk.Select(i =>
                new TableTransactionAction(TableTransactionActionType.Add, KeyRows.ToEntity(Numbered(i, now), KeyRows.KeyRow(Numbered(i, now).Id)))));
        }

        await table.AddEntityAsync(new TableEntity(KeyRows.Partition, KeyRows.SeqRow) { ["Value"] = (long)Many });
    }

    [Fact]
    public async Task TenThousandKeys_DoNotSlowStartUp_AndWorkOnceRead()
    {
        await using var env = await TestEnvironment.StartAsync(WithAdmin);
        var started = Stopwatch.StartNew();
        await using (await env.StartHostAsync())
        {
        }

        var emptyStart = started.Elapsed;
        await SeedAsync(new TableServiceClient(env.Azurite.ConnectionString).GetTableClient(TableNames.Keys));

        started.Restart();
        await using var host = await env.StartHostAsync();
        var fullStart = started.Elapsed;
        var firstCall = await TimeUntilAsync(host, "sk-scale-9999", HttpStatusCode.OK, TimeSpan.FromSeconds(30));
        var (_, page, _) = await SendAsync(host, HttpMethod.Get, "/keys?limit=100");
        Assert.Equal(100 + 2, page["data"]!.AsArray().Count); // the two settings clients, then the first 100 keys
        Assert.True(page["has_more"]!.GetValue<bool>());

        output.WriteLine($"start-up: {emptyStart.TotalMilliseconds:0} ms without keys, {fullStart.TotalMilliseconds:0} ms with {Many}; "
            + $"the first call with the last key answered {firstCall.TotalMilliseconds:0} ms after start; "
            + host.Log.Split('\n').FirstOrDefault(l => l.Contains("virtual keys (up to", StringComparison.Ordinal))?.Trim());
        Assert.True(fullStart < emptyStart + TimeSpan.FromSeconds(1), $"start-up took {fullStart.TotalMilliseconds:0} ms with {Many} keys");
    }

    [Fact]
    public async Task ALookupCostsTheSame_WithTenOrTenThousandKeys()
    {
        static async Task<double> NanosecondsPerLookupAsync(int keys)
        {
            await using var core = new InMemoryCore(new InMemoryTables(), new FakeTimeProvider(DateTimeOffset.Parse("2026-12-07T10:00:00Z")));
            var now = core.Time.GetUtcNow();
            core.Get<KeyDirectory>().Load(Enumerable.Range(0, keys).Select(i => Numbered(i, now)), keys);
            var authenticator = core.Get<ClientAuthenticator>();
            var header = "Bearer sk-scale-" + (keys - 1);
            Assert.Equal("team-" + (keys - 1), (await authenticator.AuthenticateAsync(header, default)).Client);
            var best = double.MaxValue;
            for (var run = 0; run < 5; run++)
            {
                var watch = Stopwatch.StartNew();
                for (var i = 0; i < 20_000; i++)
                {
                    await authenticator.AuthenticateAsync(header, default);
                }

                best = Math.Min(best, watch.Elapsed.TotalNanoseconds / 20_000);
            }

            return best;
        }

        var few = await NanosecondsPerLookupAsync(10);
        var many = await NanosecondsPerLookupAsync(Many);
        output.WriteLine($"a lookup (hash, find, judge): {few:0} ns with 10 keys, {many:0} ns with {Many}");
        Assert.True(many < few * 2, $"{many:0} ns with {Many} keys against {few:0} ns with 10");
    }
}
