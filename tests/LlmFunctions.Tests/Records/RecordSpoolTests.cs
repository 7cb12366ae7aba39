using System.Reflection;
using LlmFunctions.Core;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Tests.Records;

/// <summary>The spool's files on their own (issue 32, item 9): one folder per store, whole files, every field kept, locks.</summary>
public sealed class RecordSpoolTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "llmf-spool-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private RecordSpool Spool(string tableEndpoint) =>
        new(Options.Create(new StorageOptions { SpoolDirectory = _root, TableServiceUri = tableEndpoint }));

    [Fact]
    public async Task TwoStoresInOneFolder_KeepTheirOwnFiles_AndTheBacklogCountsRecords()
    {
        var a = Spool("https://a.table.core.windows.net/");
        var b = Spool("https://b.table.core.windows.net/");

        await a.AppendAsync([Spooled(), Spooled(), Spooled()], CancellationToken.None);
        await b.AppendAsync([Spooled()], CancellationToken.None);

        Assert.NotEqual(a.Directory, b.Directory);
        Assert.Equal(3, a.Backlog);
        Assert.Equal(1, b.Backlog);
        Assert.Single(a.Files());
        Assert.Empty(Directory.EnumerateFiles(a.Directory, "*.tmp")); // written under a temporary name, then renamed whole
        Assert.Equal(a.Directory, Spool("https://A.table.core.windows.net").Directory); // the same account, however spelled
    }

    /// <summary>Every settable field of a record survives the spool: a field the spool form forgets is lost with every outage.</summary>
    [Fact]
    public async Task EveryFieldOfARecord_SurvivesTheSpool()
    {
        var spool = Spool("https://a.table.core.windows.net/");
        var record = Infrastructure.InMemoryCore.Record(DateTimeOffset.UnixEpoch); // every field is overwritten below
        // Public setters: what a call sets (Shrunk, set by Shrink alone, is the store's bookkeeping for one write).
        var fields = typeof(CallRecord).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod?.IsPublic == true).ToList();
        foreach (var (field, i) in fields.Select((f, i) => (f, i + 1)))
        {
            field.SetValue(record, Distinct(field.PropertyType, i));
        }

        await spool.AppendAsync([new SpooledRecord { Record = record, AttemptedPartitionKeys = ["202611281200-07"] }],
            CancellationToken.None);
        await using var stream = RecordSpool.TryLock(Assert.Single(spool.Files()))!;
        var back = Assert.Single(await RecordSpool.ReadAsync(stream, CancellationToken.None));

        var restored = back.Record;
        Assert.All(fields, f => Assert.True(Equals(f.GetValue(record), f.GetValue(restored)), $"{f.Name} did not survive the spool"));
        Assert.Equal(["202611281200-07"], back.AttemptedPartitionKeys);
    }

    [Fact]
    public async Task ALockedFile_IsNotTakenTwice_ARewriteShrinksIt_AndQuarantineSetsItAside()
    {
        var spool = Spool("https://a.table.core.windows.net/");
        await spool.AppendAsync([Spooled(), Spooled()], CancellationToken.None);
        var file = Assert.Single(spool.Files());

        await using (var held = RecordSpool.TryLock(file))
        {
            Assert.NotNull(held);
            Assert.Null(RecordSpool.TryLock(file)); // another replayer skips it
            var records = await RecordSpool.ReadAsync(held, CancellationToken.None);
            await RecordSpool.RewriteAsync(held, records.Take(1).ToList(), CancellationToken.None);
            Assert.Single(await RecordSpool.ReadAsync(held, CancellationToken.None));
        }

        spool.Quarantine(file);
        Assert.Empty(spool.Files());
        Assert.Equal(1, spool.Quarantined);
        Assert.Equal(0, spool.Backlog);
    }

    private static SpooledRecord Spooled() =>
        new() { Record = Infrastructure.InMemoryCore.Record(DateTimeOffset.UtcNow) };

    internal static object Distinct(Type type, int i) => type switch
    {
        _ when type == typeof(string) => "value-" + i,
        _ when type == typeof(int) => 100 + i,
        _ when type == typeof(long) => 1_000_000L + i,
        _ when type == typeof(double) => 0.5 + i,
        _ when type == typeof(bool) => true,
        _ when type == typeof(DateTimeOffset) => new DateTimeOffset(2026, 11, 28, 12, 0, i % 60, TimeSpan.Zero),
        _ => throw new InvalidOperationException($"CallRecord has a field of type {type}: give it a distinct value here."),
    };
}
