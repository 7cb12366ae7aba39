using LlmFunctions.Core.Spend;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Tests.Spend;

/// <summary>The spend endpoints' query strings, read directly: what a key holder may send, and what each becomes.</summary>
public sealed class SpendQueryTests
{
    private static readonly DateOnly Today = new(2026, 12, 6);

    [Fact]
    public void AReportWithNoParameters_IsThisMonthSoFarByDay_AsJson()
    {
        var query = Report("");

        Assert.Equal((new DateOnly(2026, 12, 1), Today, SpendGrouping.Day, false), (query.From, query.To, query.GroupBy, query.Csv));
        Assert.Equal(new SpendFilter(null, null, null, null), query.Filter);
    }

    [Fact]
    public void APageOfCalls_HasNoGrouping_AHundredRows_AndKeepsItsCursorAndFilters()
    {
        var (query, error) = SpendQuery.ForCalls(Request("?limit=1000&after=abc&client=alpha&tag=team-a&user="), Today);

        Assert.Null(error);
        Assert.Equal((SpendGrouping.None, 1000, "abc"), (query!.GroupBy, query.Limit, query.After));
        Assert.Equal(new SpendFilter("alpha", null, null, "team-a"), query.Filter); // an empty value filters nothing
        Assert.Equal(100, SpendQuery.ForCalls(Request(""), Today).Query!.Limit);
    }

    [Fact]
    public void Groups_AreTrimmedAndCombined_AndNamedInColumnOrder()
    {
        var query = Report("?group_by= model , month,client&from=2025-12-06&to=2026-12-06&format=csv");

        Assert.Equal(SpendGrouping.Month | SpendGrouping.Client | SpendGrouping.Model, query.GroupBy);
        Assert.Equal(["month", "client", "model"], query.GroupNames());
        Assert.True(query.Csv);
        Assert.Equal(SpendQuery.MaxDays, query.To.DayNumber - query.From.DayNumber + 1); // the longest range there is
    }

    [Fact]
    public void Csv_IsAlsoChosenByTheAcceptHeader_UnlessFormatSaysOtherwise()
    {
        Assert.True(Report("", accept: "text/csv").Csv);
        Assert.False(Report("?format=json", accept: "text/csv").Csv);
    }

    [Theory]
    [InlineData("?from=2026-13-01", "'from' must be a date, yyyy-MM-dd")]
    [InlineData("?from=26-12-01", "'from' must be a date, yyyy-MM-dd")]
    [InlineData("?from=1999-12-31", "'from' must be a date, yyyy-MM-dd, from 2000-01-01 to 2199-12-31.")]
    [InlineData("?to=2200-01-01", "'to' must be a date, yyyy-MM-dd, from 2000-01-01 to 2199-12-31.")]
    [InlineData("?from=%202026-12-01", "'from' must be a date")]
    [InlineData("?from=2025-12-05&to=2026-12-06", "The range covers 367 days; at most 366 per request.")]
    [InlineData("?from=2000-01-01&to=2199-12-31", "The range covers 73049 days; at most 366 per request.")]
    [InlineData("?from=2026-12-02&to=2026-12-01", "'from' (2026-12-02) is after 'to' (2026-12-01).")]
    [InlineData("?from=2026-12-01&from=2026-11-01", "Query parameter 'from' is given more than once.")]
    [InlineData("?group_by=day,month", "group_by takes day or month, not both.")]
    [InlineData("?group_by=Day", "Unknown group_by 'Day'")]
    [InlineData("?group_by=none", "Unknown group_by 'none'")]
    [InlineData("?group_by=4", "Unknown group_by '4'")]
    [InlineData("?group_by=client,week", "Unknown group_by 'week'")]
    [InlineData("?format=CSV", "'format' must be json or csv.")]
    [InlineData("?limit=5", "Unknown query parameter 'limit'")]
    public void ABadReportQuery_IsRefused_NamingWhatIsWrong(string queryString, string message)
    {
        var (query, error) = SpendQuery.ForReport(Request(queryString), Today);

        Assert.Null(query);
        Assert.StartsWith(message, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("?limit=0")]
    [InlineData("?limit=1001")]
    [InlineData("?limit=+5")]
    [InlineData("?limit=1e3")]
    [InlineData("?limit=%205")]
    [InlineData("?limit=99999999999999999999")]
    public void ALimitThatIsNotAWholeNumberFrom1To1000_IsRefused(string queryString)
    {
        var (query, error) = SpendQuery.ForCalls(Request(queryString), Today);

        Assert.Null(query);
        Assert.Equal("'limit' must be a whole number from 1 to 1000.", error);
    }

    [Fact]
    public void AnUnknownParameterOfTenThousandCharacters_IsNamedCutShort()
    {
        var (_, error) = SpendQuery.ForReport(Request("?" + new string('x', 10_000) + "=1"), Today);

        Assert.StartsWith("Unknown query parameter 'xxx", error, StringComparison.Ordinal);
        Assert.True(error!.Length < 400, $"the message is {error.Length} characters");
    }

    private static SpendQuery Report(string queryString, string? accept = null)
    {
        var (query, error) = SpendQuery.ForReport(Request(queryString, accept), Today);
        Assert.True(query is not null, error);
        return query;
    }

    private static HttpRequest Request(string queryString, string? accept = null)
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString(queryString.Length == 0 ? null : queryString);
        if (accept is not null)
        {
            context.Request.Headers.Accept = accept;
        }

        return context.Request;
    }
}
