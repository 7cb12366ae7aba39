using System.Globalization;
using System.Text;
using System.Text.Json;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Pricing;

namespace LlmFunctions.Core.Spend;

/// <summary>The spend endpoints' bodies: JSON (snake_case, USD to the nano-dollar) and CSV.</summary>
internal static class SpendWriter
{
    private static readonly string[] CsvColumns =
        ["period", "client", "model", "user", "tag", "calls", "input_tokens", "output_tokens", "cached_input_tokens", "cost_usd", "unpriced_calls"];

    public static void Report(Utf8JsonWriter json, SpendQuery query, string timeZone, SpendReportResult result)
    {
        json.WriteStartObject();
        json.WriteString("object", "spend.report");
        json.WriteString("from", query.From.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        json.WriteString("to", query.To.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        json.WriteString("time_zone", timeZone);
        json.WriteStartArray("group_by");
        foreach (var name in query.GroupNames())
        {
            json.WriteStringValue(name);
        }

        json.WriteEndArray();
        json.WriteStartArray("data");
        foreach (var row in result.Rows)
        {
            json.WriteStartObject();
            json.WriteString("period", row.Period);
            json.WriteString("client", row.Client);
            json.WriteString("model", row.Model);
            json.WriteString("user", row.User);
            json.WriteString("tag", row.Tag);
            Sums(json, row.Sums);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartObject("total");
        Sums(json, result.Total);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    public static string ReportCsv(SpendReportResult result)
    {
        var csv = new StringBuilder();
        csv.AppendJoin(',', CsvColumns).Append("\r\n");
        foreach (var r in result.Rows)
        {
            var s = r.Sums;
            csv.AppendJoin(',', Cell(r.Period), Cell(r.Client), Cell(r.Model), Cell(r.User), Cell(r.Tag), s.Calls, s.InputTokens, s.OutputTokens,
                s.CachedInputTokens, Usd(s.CostNanoUsd), s.UnpricedCalls).Append("\r\n");
        }

        return csv.ToString();
    }

    public static void Calls(Utf8JsonWriter json, CallsPageResult page)
    {
        json.WriteStartObject();
        json.WriteString("object", "list");
        json.WriteStartArray("data");
        foreach (var r in page.Records)
        {
            json.WriteStartObject();
            json.WriteString("id", r.CallId);
            json.WriteString("started_at", r.StartedAt);
            json.WriteString("client", r.Client);
            json.WriteString("user", r.EndUser);
            json.WriteStartArray("tags");
            foreach (var tag in r.Tags.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                json.WriteStringValue(tag);
            }

            json.WriteEndArray();
            json.WritePropertyName("metadata");
            json.WriteRawValue(r.Metadata.Length > 0 ? r.Metadata : "{}");
            json.WriteString("model", r.Model);
            json.WriteString("billed_model", r.BilledModel);
            json.WriteString("endpoint", r.Endpoint);
            json.WriteNumber("status", r.StatusCode);
            json.WriteString("outcome", r.Outcome);
            json.WriteNumber("input_tokens", r.InputTokens);
            json.WriteNumber("cached_input_tokens", r.CachedInputTokens);
            json.WriteNumber("cache_write_tokens", r.CacheWriteTokens);
            json.WriteNumber("cache_write_1h_tokens", r.CacheWrite1hTokens);
            json.WriteNumber("output_tokens", r.OutputTokens);
            json.WriteNumber("reasoning_tokens", r.ReasoningTokens);
            json.WriteNumber("cost_usd", CostCalculator.ToUsd(r.CostNanoUsd));
            json.WriteBoolean("priced", r.Priced);
            json.WriteString("usage_source", r.UsageSource);
            json.WriteNumber("duration_ms", Math.Round(r.DurationMs, 3));
            json.WriteBoolean("streamed", r.Streamed);
            json.WriteString("upstream", r.Upstream);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteBoolean("has_more", page.Next is not null);
        json.WriteString("next", page.Next);
        json.WriteEndObject();
    }

    private static void Sums(Utf8JsonWriter json, UsageSums s)
    {
        json.WriteNumber("calls", s.Calls);
        json.WriteNumber("input_tokens", s.InputTokens);
        json.WriteNumber("output_tokens", s.OutputTokens);
        json.WriteNumber("cached_input_tokens", s.CachedInputTokens);
        json.WriteNumber("cost_usd", CostCalculator.ToUsd(s.CostNanoUsd));
        json.WriteNumber("unpriced_calls", s.UnpricedCalls);
    }

    private static string Usd(long nano) => CostCalculator.ToUsd(nano).ToString(CultureInfo.InvariantCulture);

    /// <summary>A CSV cell: quoted when it must be, and never read as a formula by a spreadsheet (users and tags come from clients).</summary>
    private static string Cell(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }

        if (value[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
        {
            value = "'" + value;
        }

        return value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }
}
