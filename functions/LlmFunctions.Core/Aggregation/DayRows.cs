using System.Globalization;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Aggregation;

/// <summary>
/// One row per closed day of the budget zone (<c>Budgets__TimeZone</c>) in <c>LlmAggregates</c>, partition
/// <c>days-&lt;zone&gt;</c>: the usage of the day's slot rows summed, so a year's report or a month's rollup reads a row
/// a day, not 96 slots a day from the partition that folds and scrapes. A day is built once the fold has passed it
/// (slots before the one holding the watermark are final: folds only add at or after it, and late records are keyed
/// to the minute they are written), at most <see cref="MaxDaysPerBuild"/> a run; a marker row says through which day
/// they are built, and a day at or before it without a row had no calls.
/// </summary>
internal sealed partial class DayRows(TableStore store, IOptions<BudgetsOptions> budgets, ILogger<DayRows> logger)
{
    /// <summary>Days built per run (each reads its up to 96 slot rows): a year of history takes a dozen runs.</summary>
    internal const int MaxDaysPerBuild = 31;

    /// <summary>Sorts after every <c>yyyyMMdd</c> key, so day ranges never include it.</summary>
    private const string MarkerRowKey = "built";

    private const string DayFormat = "yyyyMMdd";

    private readonly TimeZoneInfo _zone = budgets.Value.Zone;

    /// <summary>Per zone (keys refuse '/'), so a changed zone never reads days cut at another zone's midnight.</summary>
    public string PartitionKey { get; } = "days-" + budgets.Value.TimeZone.Replace('/', '.');

    /// <summary>Builds the rows of the days the fold has passed; <paramref name="watermark"/> is its first minute not folded.</summary>
    /// <returns>The days built.</returns>
    public async Task<int> BuildAsync(string watermark, CancellationToken cancellationToken)
    {
        var finalBefore = RecordKeys.ParseMinute(SlotRow.SlotOf(RecordKeys.ParseMinute(watermark)));
        DateOnly next;
        if (await BuiltThroughAsync(cancellationToken).ConfigureAwait(false) is { } built)
        {
            next = built.AddDays(1);
        }
        else if (await SlotRow.FirstAsync(store.Aggregates, cancellationToken).ConfigureAwait(false) is { } first)
        {
            next = DayOf(first);
        }
        else
        {
            return 0;
        }

        var days = 0;
        for (; days < MaxDaysPerBuild && Start(next.AddDays(1)) <= finalBefore; next = next.AddDays(1), days++)
        {
            var usage = new Dictionary<SpendKey, UsageSums>();
            await foreach (var (_, slot) in SlotRow.QueryAsync(store.Aggregates, Start(next), Start(next.AddDays(1)), cancellationToken).ConfigureAwait(false))
            {
                UsageSums.AddAll(usage, slot);
            }

            if (usage.Count > 0)
            {
                await store.Aggregates.UpsertAsync(SlotRow.ToEntity(PartitionKey, Key(next), usage), cancellationToken).ConfigureAwait(false);
            }

            // After the day's row: a reader that trusts the marker finds every row before it.
            await store.Aggregates.UpsertAsync(new Azure.Data.Tables.TableEntity(PartitionKey, MarkerRowKey) { ["Day"] = Key(next) }, cancellationToken)
                .ConfigureAwait(false);
        }

        if (days > 0)
        {
            LogBuilt(logger, days, Key(next.AddDays(-1)));
        }

        return days;
    }

    /// <summary>
    /// Hands <paramref name="add"/> each built day that lies whole in [<paramref name="from"/>, <paramref name="to"/>), from
    /// its first: returns where those days end, from which slots must be read (<paramref name="from"/> when none, or when
    /// it is not a day's start).
    /// </summary>
    public async Task<DateTimeOffset> ReadAsync(DateTimeOffset from, DateTimeOffset to, Action<DateTimeOffset, Dictionary<SpendKey, UsageSums>> add,
        CancellationToken cancellationToken)
    {
        await store.EnsureTablesAsync(cancellationToken).ConfigureAwait(false);
        var firstDay = DayOf(from);
        if (Start(firstDay) != from || await BuiltThroughAsync(cancellationToken).ConfigureAwait(false) is not { } built)
        {
            return from;
        }

        var endDay = firstDay;
        while (endDay <= built && Start(endDay.AddDays(1)) <= to)
        {
            endDay = endDay.AddDays(1);
        }

        if (endDay == firstDay)
        {
            return from;
        }

        var query = new TableQuery { PartitionKey = PartitionKey, RowKeyFrom = Key(firstDay), RowKeyBefore = Key(endDay) };
        await foreach (var e in store.Aggregates.QueryAsync(query, cancellationToken).ConfigureAwait(false))
        {
            add(Start(DateOnly.ParseExact(e.RowKey, DayFormat, CultureInfo.InvariantCulture)), SlotRow.Usage(e));
        }

        return Start(endDay);
    }

    private async Task<DateOnly?> BuiltThroughAsync(CancellationToken cancellationToken) =>
        await store.Aggregates.GetAsync(PartitionKey, MarkerRowKey, ["Day"], cancellationToken).ConfigureAwait(false) is { } marker
            ? DateOnly.ParseExact(marker.GetString("Day")!, DayFormat, CultureInfo.InvariantCulture)
            : null;

    private DateTimeOffset Start(DateOnly day) => BudgetPeriod.ToUtc(day.ToDateTime(TimeOnly.MinValue), _zone);

    private DateOnly DayOf(DateTimeOffset t) => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(t, _zone).DateTime);

    private static string Key(DateOnly day) => day.ToString(DayFormat, CultureInfo.InvariantCulture);

    [LoggerMessage(EventId = 5010, Level = LogLevel.Information, Message = "Built the spend rows of {Days} days, through {Day}.")]
    private static partial void LogBuilt(ILogger logger, int days, string day);
}
