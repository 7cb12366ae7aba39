using Azure;
using Azure.Data.Tables;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>
/// Azure Table Storage's documented limits, as the service answers them (400 with its error code), so the in-memory
/// tables refuse what Azure refuses; Azurite does not enforce all of them (learn.microsoft.com, "Understanding the
/// Table service data model" and "Performing entity group transactions").
/// </summary>
internal static class TableStorageLimits
{
    /// <summary>A string or binary property: 64 KiB (a string counts two bytes a UTF-16 unit).</summary>
    public const int MaxPropertyBytes = 64 * 1024;

    /// <summary>An entity: 1 MiB, keys and property names included.</summary>
    public const int MaxEntityBytes = 1024 * 1024;

    /// <summary>255 properties, PartitionKey, RowKey and Timestamp among them.</summary>
    public const int MaxCustomProperties = 252;

    /// <summary>A PartitionKey or RowKey: 1 KiB.</summary>
    public const int MaxKeyBytes = 1024;

    public const int MaxTransactionActions = 100;

    public const int MaxTransactionBytes = 4 * 1024 * 1024;

    /// <summary>Throws what Table Storage answers when it refuses <paramref name="e"/>; returns its size otherwise.</summary>
    public static long Check(ITableEntity e)
    {
        CheckKey(e.PartitionKey, "PartitionKey");
        CheckKey(e.RowKey, "RowKey");
        long size = 4 + (e.PartitionKey.Length * 2) + (e.RowKey.Length * 2);
        if (e is not TableEntity entity)
        {
            return size;
        }

        var custom = 0;
        foreach (var (name, value) in entity)
        {
            if (name is "PartitionKey" or "RowKey" or "Timestamp" or "odata.etag")
            {
                continue;
            }

            custom++;
            var bytes = value switch
            {
                string s => s.Length * 2L,
                byte[] b => b.Length,
                BinaryData d => d.ToMemory().Length,
                null => 0,
                _ => 8,
            };
            if (bytes > MaxPropertyBytes)
            {
                throw Refused("PropertyValueTooLarge", $"The property '{name}' is {bytes} bytes; the limit is {MaxPropertyBytes}.");
            }

            size += 8 + (name.Length * 2) + bytes;
        }

        if (custom > MaxCustomProperties)
        {
            throw Refused("TooManyProperties", $"The entity has {custom} properties; the limit is {MaxCustomProperties} besides the keys.");
        }

        if (size > MaxEntityBytes)
        {
            throw Refused("EntityTooLarge", $"The entity is {size} bytes; the limit is {MaxEntityBytes}.");
        }

        return size;
    }

    /// <summary>Checks a transaction's size limits (the action count is checked by the caller with its partition rule).</summary>
    public static void CheckTransaction(IReadOnlyList<TableTransactionAction> actions)
    {
        long total = 0;
        foreach (var a in actions)
        {
            total += a.ActionType == TableTransactionActionType.Delete ? 0 : Check(a.Entity);
        }

        if (total > MaxTransactionBytes)
        {
            throw new RequestFailedException(413, "The transaction is larger than 4 MiB.", "RequestBodyTooLarge", null);
        }
    }

    private static void CheckKey(string key, string name)
    {
        if (key.Length * 2 > MaxKeyBytes)
        {
            throw Refused("PropertyValueTooLarge", $"The {name} is longer than 1 KiB.");
        }

        foreach (var c in key)
        {
            if (c is '/' or '\\' or '#' or '?' || c <= '\u001F' || c is >= '\u007F' and <= '\u009F')
            {
                throw Refused("OutOfRangeInput", $"The {name} holds a character Table Storage does not allow in keys.");
            }
        }
    }

    private static RequestFailedException Refused(string code, string message) => new(400, message, code, null);
}
