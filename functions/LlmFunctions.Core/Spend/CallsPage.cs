using System.Buffers.Text;
using System.Text;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Spend;

/// <summary>One page of raw call records, and the cursor of the next one (null at the end).</summary>
internal sealed record CallsPageResult(IReadOnlyList<CallRecord> Records, string? Next);

/// <summary>
/// <c>GET /spend/calls</c>: pages through the records of a range in key order (write minute, then call id), across the
/// daily tables. The cursor is the last key returned, so a page is a key-range query that starts where the previous one
/// ended: no server-side state, and records written meanwhile behind the cursor never shift a page.
/// </summary>
internal sealed class CallsPage(TableStore store, AggregateFolder folder)
{
    /// <summary>Most records one request reads to fill a page when filters other than the client skip some.</summary>
    internal const int MaxScanned = 10_000;

    public async Task<CallsPageResult> ReadAsync(DateTimeOffset start, DateTimeOffset end, SpendQuery query, Cursor? after,
        CancellationToken cancellationToken)
    {
        // Only minutes no instance still writes to (those the fold may take): a record committed later into a minute
        // already paged could land behind the cursor and never be seen.
        var settled = folder.FoldableBefore();
        end = end < settled ? end : settled;
        if (end <= start)
        {
            return new CallsPageResult([], null);
        }

        var first = RecordKeys.Minute(start);
        var before = RecordKeys.Minute(end);
        if (!TryResume(ref after, first, before))
        {
            return new CallsPageResult([], null);
        }

        var lastDay = DateOnly.FromDateTime(end.AddTicks(-1).UtcDateTime);
        var records = new List<CallRecord>(query.Limit);
        var scanned = 0;
        Cursor? lastReturned = null;
        foreach (var table in await store.CallTablesAsync(TableNames.CallsFor(first), TableNames.CallsFor(lastDay), cancellationToken).ConfigureAwait(false))
        {
            if (after is { } c && string.CompareOrdinal(table, TableNames.CallsFor(c.PartitionKey)) < 0)
            {
                continue;
            }

            foreach (var q in Queries(table, after, first, before))
            {
                var filtered = query.Filter.Client is { } client ? q with { PropertyEquals = ("Client", client) } : q;
                await foreach (var e in store.QueryCallTableAsync(table, filtered, cancellationToken).ConfigureAwait(false))
                {
                    var r = CallRecordMapper.FromEntity(e);
                    if (query.Filter.Matches(SpendKey.Of(r)))
                    {
                        if (records.Count == query.Limit)
                        {
                            // One more than asked for: there is a next page, and it starts after the last one returned.
                            return new CallsPageResult(records, lastReturned!.Value.ToString());
                        }

                        records.Add(r);
                        lastReturned = new Cursor(e.PartitionKey, e.RowKey);
                    }

                    if (++scanned >= MaxScanned)
                    {
                        return new CallsPageResult(records, new Cursor(e.PartitionKey, e.RowKey).ToString());
                    }
                }
            }
        }

        return new CallsPageResult(records, null);
    }

    /// <summary>
    /// Where a page starts within the range's minutes [<paramref name="first"/>, <paramref name="before"/>): after the
    /// cursor, or from the range's start when the cursor is before it (then null); false when the cursor is past its end.
    /// </summary>
    private static bool TryResume(ref Cursor? after, string first, string before)
    {
        if (after is not { } cursor)
        {
            return true;
        }

        if (string.CompareOrdinal(cursor.PartitionKey, before) >= 0)
        {
            return false; // past the end of the range
        }

        if (string.CompareOrdinal(cursor.PartitionKey, first) < 0)
        {
            after = null; // before the range: from its start
        }

        return true;
    }

    /// <summary>A table's queries in key order: in the cursor's table, the rest of its minute and then the minutes after it.</summary>
    private static TableQuery[] Queries(string table, Cursor? after, string first, string before) =>
        after is { } a && table == TableNames.CallsFor(a.PartitionKey)
            ?
            [
                new TableQuery { PartitionKey = a.PartitionKey, RowKeyAfter = a.RowKey },
                new TableQuery { PartitionKeyAfter = a.PartitionKey, PartitionKeyBefore = before },
            ]
            : [new TableQuery { PartitionKeyFrom = first, PartitionKeyBefore = before }];

    /// <summary>Where a page ended: the PartitionKey and RowKey of its last record, as opaque base64url text.</summary>
    internal readonly record struct Cursor(string PartitionKey, string RowKey)
    {
        public override string ToString() => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(PartitionKey + "/" + RowKey));

        public static bool TryParse(string? text, out Cursor cursor)
        {
            cursor = default;
            if (text is null || text.Length > 200)
            {
                return false;
            }

            try
            {
                var parts = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(text)).Split('/');
                if (parts.Length != 2 || parts[0].Length < RecordKeys.MinuteFormat.Length
                    || !DateTimeOffset.TryParseExact(parts[0][..RecordKeys.MinuteFormat.Length], RecordKeys.MinuteFormat,
                        System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out _)
                    || parts[1].Length == 0)
                {
                    return false;
                }

                cursor = new Cursor(parts[0], parts[1]);
                return true;
            }
            catch (FormatException)
            {
                return false;
            }
        }
    }
}
