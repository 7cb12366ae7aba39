using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Metrics;

/// <summary>
/// Folds call records into durable aggregates, so a scrape reads a few entities instead of the whole history.
/// <para><b>Layout</b> (table <c>LlmAggregates</c>, one partition <c>state</c>):
/// row <c>v1</c> holds the <see cref="AggregateState"/> (gzip'd JSON in binary chunks) and its watermark;
/// rows <c>spend-yyyyMMddHHmm</c> hold spend per client and model for each 15-minute UTC slot of the records'
/// write minute (for budgets, which need "spend since midnight in zone Z" for any zone; a record that waited in the
/// spool counts when it is written, and every minute maps to exactly one slot, so a transaction stays small).</para>
/// <para><b>Fold step</b>: read row <c>v1</c> (ETag E); read the records of every whole minute from the watermark
/// up to <c>now − Metrics__FoldLagSeconds</c> with one PartitionKey range query per daily call table (one table
/// except around midnight UTC; see <see cref="TableNames"/>); add them; write row <c>v1</c>
/// (If-Match E) and the touched spend rows in <em>one entity-group transaction</em>.</para>
/// <para><b>Invariants</b></para>
/// <list type="number">
/// <item>Every record is counted exactly once: records of minutes before the watermark are in the state, those at
/// or after it are not. The watermark and the sums change together, atomically (one transaction), and only if
/// nobody else changed them since we read them (ETag) — so concurrent folders on any number of instances never
/// double-count; the loser re-reads and retries.</item>
/// <item>No record lands behind the watermark: writers key a record by the minute it is <em>written</em> and re-key
/// anything that waited (see <see cref="RecordKeys"/>), and the fold stays <c>FoldLagSeconds</c> (≥ 10 s) behind now,
/// longer than a commit can take (two attempts of at most 3 s, then the spool; the day's table is created a day
/// ahead by the fold, so the first write after midnight does not pay for it).</item>
/// <item>A scrape = state row + the live tail (records at or after the state's watermark, read in the same scrape),
/// so it equals the sum over all records written so far. Records are only ever deleted by retention
/// (<c>Storage__RetentionDays</c>), a whole day at a time and only days entirely behind the watermark — already in
/// the state — so a counter never decreases.</item>
/// </list>
/// </summary>
internal sealed partial class AggregateFolder(TableStore store, TimeProvider time, IOptions<MetricsOptions> options, IOptions<StorageOptions> storageOptions,
    ILogger<AggregateFolder> logger)
{
    internal const string PartitionKey = "state";
    internal const string StateRowKey = "v1";
    internal const string SpendRowPrefix = "spend-";
    private const int ChunkBytes = 60 * 1024;
    private const int MaxChunks = 15;

    /// <summary>Most records one fold step reads; the rest waits for the next step.</summary>
    internal int MaxRecordsPerStep { get; set; } = 50_000;

    private readonly MetricsOptions _options = options.Value;
    private readonly int _retentionDays = storageOptions.Value.RetentionDays;
    private DateTimeOffset _nextHousekeeping;

    public TimeSpan Lag => TimeSpan.FromSeconds(_options.FoldLagSeconds);

    /// <summary>The snapshot a scrape renders: folded state plus the live tail.</summary>
    public async Task<Snapshot> SnapshotAsync(CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var (state, _) = await LoadAsync(cancellationToken).ConfigureAwait(false);
        var foldable = FoldableBefore();

        // Keep the fold moving even without the timer: a scrape that finds whole minutes to fold folds them first.
        if (state is null || string.CompareOrdinal(state.Watermark, RecordKeys.Minute(foldable)) < 0)
        {
            await FoldAsync(cancellationToken).ConfigureAwait(false);
            (state, _) = await LoadAsync(cancellationToken).ConfigureAwait(false);
        }

        state ??= new AggregateState { Watermark = RecordKeys.Minute(foldable) };
        var newestFolded = state.NewestFolded;
        var unfolded = 0;
        var tailSpend = new TailSpend();
        // Through tomorrow's table: an instance whose clock runs ahead may already write there around midnight, and a
        // scrape must not count its records on one instance and miss them on the next (one cheap 404 otherwise).
        // Each record is added as it is read and not kept: under load the tail holds tens of thousands of them.
        var tailReadAt = time.GetUtcNow();
        var lastDay = DateOnly.FromDateTime(tailReadAt.UtcDateTime).AddDays(1);
        await foreach (var e in store.QueryCallsAsync(state.Watermark, null, lastDay, cancellationToken).ConfigureAwait(false))
        {
            var record = CallRecordMapper.FromEntity(e);
            // Label grants in the tail are provisional (not saved): the fold grants in the same order.
            state.Add(record, _options.MaxModels);
            tailSpend.Add(record);
            unfolded++;
        }

        return new Snapshot(state, unfolded, newestFolded == default ? null : time.GetUtcNow() - newestFolded, tailSpend, tailReadAt);
    }

    /// <summary>Folds until caught up or a step limit is hit. Returns the records folded. Safe to run anywhere, any time.</summary>
    public async Task<int> FoldAsync(CancellationToken cancellationToken)
    {
        var total = 0;
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var (folded, conflict, more) = await FoldStepAsync(cancellationToken).ConfigureAwait(false);
            total += folded;
            if (conflict)
            {
                LogConflict(logger);
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 50)), time, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (!more)
            {
                break;
            }
        }

        await PrepareAndRetainAsync(cancellationToken).ConfigureAwait(false);
        return total;
    }

    internal async Task<(int Folded, bool Conflict, bool More)> FoldStepAsync(CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var (state, etag) = await LoadAsync(cancellationToken).ConfigureAwait(false);
        var limit = RecordKeys.Minute(FoldableBefore());
        if (state is null)
        {
            state = new AggregateState { Watermark = await FirstMinuteAsync(limit, cancellationToken).ConfigureAwait(false) };
        }

        if (string.CompareOrdinal(state.Watermark, limit) >= 0)
        {
            return (0, false, false);
        }

        var spend = new Dictionary<string, Dictionary<string, long>>(StringComparer.Ordinal);
        var folded = 0;
        var more = false;
        string? currentMinute = null;
        var next = limit;
        var limitDay = DateOnly.FromDateTime(RecordKeys.ParseMinute(limit).UtcDateTime);
        await foreach (var e in store.QueryCallsAsync(state.Watermark, limit, limitDay, cancellationToken).ConfigureAwait(false))
        {
            var minute = e.PartitionKey[..RecordKeys.MinuteFormat.Length];
            var slotKey = SpendRowPrefix + SlotOf(RecordKeys.ParseMinute(minute));
            if (!string.Equals(minute, currentMinute, StringComparison.Ordinal))
            {
                // Stop only at a minute boundary, so the watermark always means "every earlier minute is in";
                // and before one transaction would exceed its 100 entities.
                if (folded >= MaxRecordsPerStep || (spend.Count >= 98 && !spend.ContainsKey(slotKey)))
                {
                    next = minute;
                    more = true;
                    break;
                }

                currentMinute = minute;
            }

            var record = CallRecordMapper.FromEntity(e);
            state.Add(record, _options.MaxModels);
            if (!spend.TryGetValue(slotKey, out var slotSpend))
            {
                spend[slotKey] = slotSpend = await LoadSpendAsync(slotKey, cancellationToken).ConfigureAwait(false);
            }

            var who = AggregateState.SpendKey(record);
            slotSpend[who] = slotSpend.GetValueOrDefault(who) + record.CostNanoUsd;
            folded++;
        }

        state.Watermark = next;
        state.FoldedRecords += folded;

        var actions = new List<TableTransactionAction>(spend.Count + 1)
        {
            etag is { } tag
                ? new TableTransactionAction(TableTransactionActionType.UpdateReplace, ToEntity(state), tag)
                : new TableTransactionAction(TableTransactionActionType.Add, ToEntity(state)),
        };
        foreach (var (rowKey, values) in spend)
        {
            actions.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, new TableEntity(PartitionKey, rowKey)
            {
                ["Json"] = JsonSerializer.Serialize(values, AggregateJsonContext.Default.DictionaryStringInt64),
            }));
        }

        try
        {
            await store.Aggregates.SubmitTransactionAsync(actions, cancellationToken).ConfigureAwait(false);
        }
        catch (TableTransactionFailedException ex) when (ex.Status is 409 or 412)
        {
            return (0, true, true);
        }

        LogFolded(logger, folded, next);
        return (folded, false, more);
    }

    /// <summary>Spend per "client|model" in nano-USD for 15-minute UTC slots in [from, to).</summary>
    public async Task<Dictionary<string, long>> SpendAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey eq {PartitionKey} and RowKey ge {SpendRowPrefix + SlotOf(from)} and RowKey lt {SpendRowPrefix + SlotOf(to)}");
        await foreach (var e in store.Aggregates.QueryAsync<TableEntity>(filter: filter, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            foreach (var (key, value) in JsonSerializer.Deserialize(e.GetString("Json") ?? "{}", AggregateJsonContext.Default.DictionaryStringInt64) ?? [])
            {
                result[key] = result.GetValueOrDefault(key) + value;
            }
        }

        return result;
    }

    /// <summary>The 15-minute UTC slot a time falls in (zones are offset by multiples of 15 minutes).</summary>
    internal static string SlotOf(DateTimeOffset t)
    {
        var u = t.UtcDateTime;
        var slot = new DateTime(u.Year, u.Month, u.Day, u.Hour, u.Minute / 15 * 15, 0, DateTimeKind.Utc);
        return slot.ToString(RecordKeys.MinuteFormat, CultureInfo.InvariantCulture);
    }

    private DateTimeOffset FoldableBefore()
    {
        var t = time.GetUtcNow() - Lag;
        return new DateTimeOffset(t.Year, t.Month, t.Day, t.Hour, t.Minute, 0, TimeSpan.Zero);
    }

    private async Task<string> FirstMinuteAsync(string fallback, CancellationToken cancellationToken) =>
        await store.FirstCallPartitionKeyAsync(cancellationToken).ConfigureAwait(false) is { } first
            ? first[..RecordKeys.MinuteFormat.Length]
            : fallback;

    /// <summary>
    /// Table housekeeping after a fold, at most once an hour per instance (any instance may do it), never failing the
    /// fold: creates tomorrow's call table ahead of time, so that the first write after midnight does not pay for it
    /// (a record must be written within <c>FoldLagSeconds</c> of its key's minute); and with
    /// <c>Storage__RetentionDays</c> set, drops the call tables of days older than that which the fold has passed
    /// entirely (their records are in the state).
    /// </summary>
    private async Task PrepareAndRetainAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (now < _nextHousekeeping)
        {
            return;
        }

        _nextHousekeeping = now.AddHours(1);
        try
        {
            await store.EnsureCallsTableAsync(RecordKeys.Minute(now.AddDays(1)), cancellationToken).ConfigureAwait(false);
            if (_retentionDays > 0)
            {
                await ApplyRetentionAsync(now, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            _nextHousekeeping = now.AddMinutes(1);
            LogHousekeepingFailed(logger, ex.GetType().Name);
        }
    }

    private async Task ApplyRetentionAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var (state, _) = await LoadAsync(cancellationToken).ConfigureAwait(false);
        if (state is null)
        {
            return;
        }

        var keepFrom = DateOnly.FromDateTime(now.UtcDateTime).AddDays(-_retentionDays);
        var folded = DateOnly.FromDateTime(RecordKeys.ParseMinute(state.Watermark).UtcDateTime);
        var before = TableNames.CallsFor(keepFrom < folded ? keepFrom : folded);
        foreach (var table in await store.AllCallTablesAsync(cancellationToken).ConfigureAwait(false))
        {
            if (string.CompareOrdinal(table, before) < 0)
            {
                await store.DeleteCallsTableAsync(table, cancellationToken).ConfigureAwait(false);
                LogRetention(logger, table);
            }
        }
    }

    private async Task<Dictionary<string, long>> LoadSpendAsync(string rowKey, CancellationToken cancellationToken)
    {
        var e = await store.Aggregates.GetEntityIfExistsAsync<TableEntity>(PartitionKey, rowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        return e.HasValue
            ? JsonSerializer.Deserialize(e.Value!.GetString("Json") ?? "{}", AggregateJsonContext.Default.DictionaryStringInt64) ?? new(StringComparer.Ordinal)
            : new(StringComparer.Ordinal);
    }

    internal async Task<(AggregateState? State, ETag? ETag)> LoadAsync(CancellationToken cancellationToken)
    {
        var response = await store.Aggregates.GetEntityIfExistsAsync<TableEntity>(PartitionKey, StateRowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!response.HasValue)
        {
            return (null, null);
        }

        var entity = response.Value!;
        using var compressed = new MemoryStream();
        for (var i = 0; i < MaxChunks && entity.GetBinary("Chunk" + i) is { } chunk; i++)
        {
            compressed.Write(chunk);
        }

        compressed.Position = 0;
        await using var gzip = new GZipStream(compressed, CompressionMode.Decompress);
        var state = await JsonSerializer.DeserializeAsync(gzip, AggregateJsonContext.Default.AggregateState, cancellationToken).ConfigureAwait(false);
        return (state, entity.ETag);
    }

    private static TableEntity ToEntity(AggregateState state)
    {
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            JsonSerializer.Serialize(gzip, state, AggregateJsonContext.Default.AggregateState);
        }

        var bytes = compressed.ToArray();
        if (bytes.Length > ChunkBytes * MaxChunks)
        {
            throw new InvalidOperationException($"The aggregate state grew to {bytes.Length} bytes; lower Metrics__MaxModels or the number of clients.");
        }

        var entity = new TableEntity(PartitionKey, StateRowKey)
        {
            ["Watermark"] = state.Watermark,
            ["FoldedRecords"] = state.FoldedRecords,
        };
        for (var i = 0; i * ChunkBytes < bytes.Length; i++)
        {
            entity["Chunk" + i] = bytes.AsSpan(i * ChunkBytes, Math.Min(ChunkBytes, bytes.Length - i * ChunkBytes)).ToArray();
        }

        return entity;
    }

    /// <summary>What a scrape renders.</summary>
    /// <param name="TailReadAt">When the read of the unfolded records began: records durable before it are in it.</param>
    internal sealed record Snapshot(AggregateState State, int UnfoldedRecords, TimeSpan? NewestFoldedAge, TailSpend TailSpend, DateTimeOffset TailReadAt);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Debug, Message = "Another instance folded at the same time; retrying the fold step.")]
    private static partial void LogConflict(ILogger logger);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "Table housekeeping (tomorrow's table, retention) failed ({Error}); retrying in a minute.")]
    private static partial void LogHousekeepingFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "Retention: dropped {Table}, whose records are all folded.")]
    private static partial void LogRetention(ILogger logger, string table);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Debug, Message = "Folded {Count} records; watermark now {Watermark}.")]
    private static partial void LogFolded(ILogger logger, int count, string watermark);
}
