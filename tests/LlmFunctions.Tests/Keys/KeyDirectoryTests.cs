using Azure.Data.Tables;
using LlmFunctions.Core.Keys;
using LlmFunctions.Core.Records;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace LlmFunctions.Tests.Keys;

public sealed class KeyDirectoryTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.Parse("2026-12-07T10:00:00Z");

    [Fact]
    public async Task ChangesAreReadInOrder_AndAMissingNumberReadsEverythingAgain()
    {
        var tables = new InMemoryTables();
        await using var writer = new InMemoryCore(tables, new FakeTimeProvider(Now));
        await using var reader = new InMemoryCore(tables, new FakeTimeProvider(Now));
        var store = writer.Get<KeyStore>();
        var directory = reader.Get<KeyDirectory>();
        await directory.RefreshAsync(default);
        Assert.Equal(0, directory.Seq);

        var a = ClientAuthenticatorTests.Key("a", "sk-a", Now) with { Id = "key_00000000000000000000000a" };
        var b = ClientAuthenticatorTests.Key("b", "sk-b", Now) with { Id = "key_00000000000000000000000b" };
        Assert.Equal(KeyStore.CommitOutcome.Done, (await store.CreateAsync(a, "{}", "test", default)).Outcome);
        Assert.Equal(KeyStore.CommitOutcome.Done, (await store.CreateAsync(b, "{}", "test", default)).Outcome);
        await directory.RefreshAsync(default);
        Assert.Equal((2, 2), (directory.Seq, directory.Count));

        // A change this instance never saw in the log (its row gone): the next numbers do not follow, so everything is read again.
        await store.ChangeAsync(a.Id, (k, now) => (k with { Rpm = 5 }, "patch", "{}", null), "test", default);
        await store.ChangeAsync(b.Id, (k, now) => (k with { Rpm = 7 }, "patch", "{}", null), "test", default);
        await tables.Table(TableNames.Keys).SubmitAsync([new TableTransactionAction(TableTransactionActionType.Delete,
            new TableEntity(KeyRows.Partition, KeyRows.ChangeRow(3)))], default);
        await directory.RefreshAsync(default);
        Assert.Equal((4, 5, 7), (directory.Seq, directory.ById(a.Id)!.Rpm, directory.ById(b.Id)!.Rpm));
    }

    [Fact]
    public async Task TwoCreatesOfOneName_OneWins_TheOtherIsToldTheNameIsTaken()
    {
        await using var core = new InMemoryCore(new InMemoryTables(), new FakeTimeProvider(Now));
        var store = core.Get<KeyStore>();
        var first = ClientAuthenticatorTests.Key("same", "sk-1", Now) with { Id = "key_000000000000000000000001" };
        var second = ClientAuthenticatorTests.Key("same", "sk-2", Now) with { Id = "key_000000000000000000000002" };
        var outcomes = await Task.WhenAll(store.CreateAsync(first, "{}", "test", default), store.CreateAsync(second, "{}", "test", default));
        Assert.Equal([KeyStore.CommitOutcome.Done, KeyStore.CommitOutcome.NameTaken], outcomes.Select(o => o.Outcome).Order());
        Assert.Single((await store.LoadAsync(default)).Keys);
    }
}
