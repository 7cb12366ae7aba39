using System.Globalization;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Spend;

/// <summary>One row of a spend report: a period and the grouped parts of the key (null when not grouped by it).</summary>
internal sealed record SpendRow(string Period, string? Client, string? Model, string? User, string? Tag, UsageSums Sums);

/// <summary>A spend report: rows in key order and the total (each call once, also when grouped by tag).</summary>
internal sealed record SpendReportResult(IReadOnlyList<SpendRow> Rows, UsageSums Total);

/// <summary>
/// <c>GET /spend</c>'s figures: the folded 15-minute slots of the range (one row per slot, whatever the number of calls)
/// plus the tail of minutes not folded yet (a few rows per instance), exactly what <c>/metrics</c> adds up, so the
/// two agree to the nano-dollar. Slots map to days in <c>Budgets__TimeZone</c> (every zone's offset is a multiple of 15
/// minutes); a call counts in the slot of the minute its record was written.
/// </summary>
internal sealed class SpendReport(AggregateReader aggregates, IOptions<BudgetsOptions> budgets, TimeProvider time)
{
    public TimeZoneInfo Zone { get; } = budgets.Value.Zone;

    public DateOnly Today => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(time.GetUtcNow(), Zone).DateTime);

    /// <summary>The UTC instants of local midnight at the start of <paramref name="from"/> and after <paramref name="to"/>.</summary>
    public (DateTimeOffset Start, DateTimeOffset End) Range(DateOnly from, DateOnly to) =>
        (BudgetPeriod.ToUtc(from.ToDateTime(TimeOnly.MinValue), Zone), BudgetPeriod.ToUtc(to.AddDays(1).ToDateTime(TimeOnly.MinValue), Zone));

    /// <summary>The report; throws <see cref="Azure.RequestFailedException"/> (503) when folds keep racing its read.</summary>
    public async Task<SpendReportResult> RunAsync(SpendQuery query, CancellationToken cancellationToken)
    {
        var (start, end) = Range(query.From, query.To);
        var groups = new Dictionary<(string Period, SpendKey Key), UsageSums>();
        var snapshot = await aggregates.ReadFoldedAsync(start, end, (slot, usage) => Add(groups, Period(slot, query), usage, query), cancellationToken)
            .ConfigureAwait(false);

        foreach (var (minute, usage) in snapshot.TailUsage)
        {
            var at = RecordKeys.ParseMinute(minute);
            if (at >= start && at < end)
            {
                Add(groups, Period(at, query), usage, query);
            }
        }

        return Result(groups, query);
    }

    private static void Add(Dictionary<(string, SpendKey), UsageSums> groups, string period, Dictionary<SpendKey, UsageSums> usage, SpendQuery query)
    {
        foreach (var (key, sums) in usage)
        {
            if (!query.Filter.Matches(key))
            {
                continue;
            }

            var g = query.GroupBy;
            var grouped = new SpendKey(
                g.HasFlag(SpendGrouping.Client) ? key.Client : "",
                g.HasFlag(SpendGrouping.Model) ? key.Model : "",
                g.HasFlag(SpendGrouping.User) ? key.User : "",
                g.HasFlag(SpendGrouping.Tag) ? key.Tags : "");
            if (!groups.TryGetValue((period, grouped), out var sum))
            {
                groups[(period, grouped)] = sum = new UsageSums();
            }

            sum.Add(sums);
        }
    }

    private static SpendReportResult Result(Dictionary<(string Period, SpendKey Key), UsageSums> groups, SpendQuery query)
    {
        var g = query.GroupBy;
        var total = new UsageSums();
        var rows = new Dictionary<(string Period, string? Client, string? Model, string? User, string? Tag), UsageSums>();
        foreach (var ((period, key), sums) in groups)
        {
            total.Add(sums);

            // By tag, a call counts under each of its tags (untagged ones under ""), so tag rows may add up to more than the total.
            string?[] tags = !g.HasFlag(SpendGrouping.Tag) ? [null] : key.Tags.Length == 0 ? [""] : [.. key.TagList];
            foreach (var tag in tags)
            {
                var row = (period, g.HasFlag(SpendGrouping.Client) ? key.Client : null, g.HasFlag(SpendGrouping.Model) ? key.Model : null,
                    g.HasFlag(SpendGrouping.User) ? key.User : null, tag);
                if (!rows.TryGetValue(row, out var sum))
                {
                    rows[row] = sum = new UsageSums();
                }

                sum.Add(sums);
            }
        }

        var ordered = rows
            .OrderBy(r => r.Key.Period, StringComparer.Ordinal).ThenBy(r => r.Key.Client, StringComparer.Ordinal)
            .ThenBy(r => r.Key.Model, StringComparer.Ordinal).ThenBy(r => r.Key.User, StringComparer.Ordinal).ThenBy(r => r.Key.Tag, StringComparer.Ordinal)
            .Select(r => new SpendRow(r.Key.Period, r.Key.Client, r.Key.Model, r.Key.User, r.Key.Tag, r.Value))
            .ToList();
        return new SpendReportResult(ordered, total);
    }

    /// <summary>The report period a slot or minute (UTC) belongs to: its local day or month, else the whole range.</summary>
    private string Period(DateTimeOffset utc, SpendQuery query)
    {
        if (!query.GroupBy.HasFlag(SpendGrouping.Day) && !query.GroupBy.HasFlag(SpendGrouping.Month))
        {
            return string.Create(CultureInfo.InvariantCulture, $"{query.From:yyyy-MM-dd}/{query.To:yyyy-MM-dd}");
        }

        var local = TimeZoneInfo.ConvertTime(utc, Zone).DateTime;
        return local.ToString(query.GroupBy.HasFlag(SpendGrouping.Day) ? "yyyy-MM-dd" : "yyyy-MM", CultureInfo.InvariantCulture);
    }
}
