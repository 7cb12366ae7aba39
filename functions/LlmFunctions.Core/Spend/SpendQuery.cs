using System.Globalization;
using LlmFunctions.Core.Aggregation;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Core.Spend;

/// <summary>What a report groups by.</summary>
[Flags]
internal enum SpendGrouping
{
    None = 0,
    Day = 1,
    Month = 2,
    Client = 4,
    Model = 8,
    User = 16,
    Tag = 32,
}

/// <summary>Filters a report or a page of calls keeps to; null: any.</summary>
internal sealed record SpendFilter(string? Client, string? Model, string? User, string? Tag)
{
    public bool Matches(SpendKey key) =>
        (Client is null || string.Equals(key.Client, Client, StringComparison.Ordinal))
        && (Model is null || string.Equals(key.Model, Model, StringComparison.OrdinalIgnoreCase))
        && (User is null || string.Equals(key.User, User, StringComparison.Ordinal))
        && (Tag is null || key.HasTag(Tag));
}

/// <summary>
/// A request to the spend endpoints, read from its query string: days <c>from</c>..<c>to</c> (inclusive, in
/// <c>Budgets__TimeZone</c>), <c>group_by</c>, filters, <c>format</c>, and for pages of calls <c>limit</c> and
/// <c>after</c>. Anything it cannot use is a failure naming the parameter, never a guess.
/// </summary>
internal sealed record SpendQuery(DateOnly From, DateOnly To, SpendGrouping GroupBy, SpendFilter Filter, bool Csv, int Limit, string? After)
{
    /// <summary>The longest range one request may cover.</summary>
    public const int MaxDays = 366;

    public const int MaxLimit = 1000;

    private static readonly string[] ReportParameters = ["from", "to", "group_by", "client", "model", "user", "tag", "format"];
    private static readonly string[] CallsParameters = ["from", "to", "client", "model", "user", "tag", "limit", "after"];

    /// <summary>Reads a report's query (<c>GET /spend</c>).</summary>
    public static (SpendQuery? Query, string? Error) ForReport(HttpRequest request, DateOnly today) => Read(request, today, ReportParameters);

    /// <summary>Reads a page of calls' query (<c>GET /spend/calls</c>).</summary>
    public static (SpendQuery? Query, string? Error) ForCalls(HttpRequest request, DateOnly today) => Read(request, today, CallsParameters);

    /// <summary>The groups, in the order the report's columns have them.</summary>
    public IEnumerable<string> GroupNames() =>
        Enum.GetValues<SpendGrouping>().Where(g => g != SpendGrouping.None && GroupBy.HasFlag(g)).Select(g => g.ToString().ToLowerInvariant());

    private static (SpendQuery?, string?) Read(HttpRequest request, DateOnly today, string[] known)
    {
        var q = request.Query;
        if (ParametersError(q, known) is { } badParameters)
        {
            return (null, badParameters);
        }

        if (ReadRange(q, today, out var from, out var to) is { } badRange)
        {
            return (null, badRange);
        }

        if (ReadGroupBy(q, known, out var groupBy) is { } badGroupBy)
        {
            return (null, badGroupBy);
        }

        if (ReadFormat(request, out var csv) is { } badFormat)
        {
            return (null, badFormat);
        }

        var limit = 100;
        if (q.TryGetValue("limit", out var limitText)
            && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxLimit))
        {
            return (null, $"'limit' must be a whole number from 1 to {MaxLimit}.");
        }

        var filter = new SpendFilter(Value(q, "client"), Value(q, "model"), Value(q, "user"), Value(q, "tag"));
        return (new SpendQuery(from, to, groupBy, filter, csv, limit, Value(q, "after")), null);
    }

    /// <summary>A parameter this endpoint does not take, or one given twice: the failure, else null.</summary>
    private static string? ParametersError(IQueryCollection q, string[] known)
    {
        if (q.Keys.FirstOrDefault(k => !known.Contains(k, StringComparer.Ordinal)) is { } unknown)
        {
            return $"Unknown query parameter '{Http.Text.Truncate(unknown)}'; this endpoint takes {string.Join(", ", known)}.";
        }

        return q.Keys.FirstOrDefault(k => q[k].Count > 1) is { } repeated ? $"Query parameter '{repeated}' is given more than once." : null;
    }

    /// <summary>Days <c>from</c>..<c>to</c>, by default this month up to <paramref name="today"/>: the failure, else null.</summary>
    private static string? ReadRange(IQueryCollection q, DateOnly today, out DateOnly from, out DateOnly to)
    {
        from = new DateOnly(today.Year, today.Month, 1);
        to = today;
        if (q.TryGetValue("from", out var fromText) && !TryDate(fromText, out from))
        {
            return "'from' must be a date, yyyy-MM-dd, from 2000-01-01 to 2199-12-31.";
        }

        if (q.TryGetValue("to", out var toText) && !TryDate(toText, out to))
        {
            return "'to' must be a date, yyyy-MM-dd, from 2000-01-01 to 2199-12-31.";
        }

        if (from > to)
        {
            return $"'from' ({from:yyyy-MM-dd}) is after 'to' ({to:yyyy-MM-dd}).";
        }

        return to.DayNumber - from.DayNumber + 1 > MaxDays
            ? $"The range covers {to.DayNumber - from.DayNumber + 1} days; at most {MaxDays} per request."
            : null;
    }

    /// <summary><c>group_by</c>, by day when the endpoint takes it and it is not given: the failure, else null.</summary>
    private static string? ReadGroupBy(IQueryCollection q, string[] known, out SpendGrouping groupBy)
    {
        groupBy = known.Contains("group_by") ? SpendGrouping.Day : SpendGrouping.None;
        if (!q.TryGetValue("group_by", out var groupText))
        {
            return null;
        }

        groupBy = SpendGrouping.None;
        foreach (var name in groupText.ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Enum.TryParse<SpendGrouping>(name, ignoreCase: true, out var g) || g == SpendGrouping.None || !char.IsAsciiLetterLower(name[0]))
            {
                return $"Unknown group_by '{Http.Text.Truncate(name)}'; use any of day, month, client, model, user, tag.";
            }

            groupBy |= g;
        }

        return groupBy.HasFlag(SpendGrouping.Day) && groupBy.HasFlag(SpendGrouping.Month) ? "group_by takes day or month, not both." : null;
    }

    /// <summary>CSV when <c>format=csv</c>, or without <c>format</c> when the request accepts text/csv: the failure, else null.</summary>
    private static string? ReadFormat(HttpRequest request, out bool csv)
    {
        if (!request.Query.TryGetValue("format", out var format))
        {
            csv = request.Headers.Accept.ToString().Contains("text/csv", StringComparison.OrdinalIgnoreCase);
            return null;
        }

        csv = format.ToString() == "csv";
        return format.ToString() is "csv" or "json" ? null : "'format' must be json or csv.";
    }

    /// <summary>A date of the form yyyy-MM-dd within years no record or zone conversion can fall outside of.</summary>
    private static bool TryDate(string? text, out DateOnly date) =>
        DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out date) && date.Year is >= 2000 and < 2200;

    private static string? Value(IQueryCollection q, string name) => q.TryGetValue(name, out var v) && v.ToString().Length > 0 ? v.ToString() : null;
}
