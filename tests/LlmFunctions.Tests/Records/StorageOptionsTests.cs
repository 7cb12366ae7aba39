using LlmFunctions.Core;
using LlmFunctions.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Tests.Records;

/// <summary>The storage settings' start-up check: a record on local disk is durable, or the table only, never half of each.</summary>
public sealed class StorageOptionsTests
{
    private static StorageOptions Resolve(Dictionary<string, string?> settings) => Settings.Resolve<StorageOptions>(settings);

    /// <summary>Answering only once a record is in the table cannot go with answering before it is written, or once journaled.</summary>
    [Theory]
    [InlineData("Storage:AwaitRecordWrite", "false")]
    [InlineData("Storage:LocalJournal", "true")]
    public void LocalDiskNotDurable_RefusesASettingThatAnswersBeforeTheTable(string key, string value)
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Resolve(new() { ["Storage:LocalDiskIsDurable"] = "false", [key] = value }));

        Assert.Contains("Storage__LocalDiskIsDurable=false", ex.Message, StringComparison.Ordinal);
        Assert.Contains(key.Replace(":", "__", StringComparison.Ordinal), ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("true", "false")] // the local host's default beside queued records: its operator's choice
    [InlineData("false", "true")] // the Functions default
    public void TheDefaultsOfEachHost_AreAccepted(string localDiskIsDurable, string awaitRecordWrite)
    {
        var options = Resolve(new() { ["Storage:LocalDiskIsDurable"] = localDiskIsDurable, ["Storage:AwaitRecordWrite"] = awaitRecordWrite });

        Assert.Equal(bool.Parse(localDiskIsDurable), options.LocalDiskIsDurable);
    }
}
