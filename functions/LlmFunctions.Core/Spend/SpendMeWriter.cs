using System.Text.Json;
using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Budgets;
using LlmFunctions.Core.Pricing;

namespace LlmFunctions.Core.Spend;

/// <summary><c>GET /spend/me</c>'s body: the client's spend today and this month, and where each budget that applies stands.</summary>
internal static class SpendMeWriter
{
    public static void Write(Utf8JsonWriter json, string client, string timeZone, string today, UsageSums todaySums, UsageSums monthSums,
        IReadOnlyList<BudgetStatus> budgets)
    {
        json.WriteStartObject();
        json.WriteString("object", "spend.me");
        json.WriteString("client", client);
        json.WriteString("time_zone", timeZone);
        json.WriteStartObject("today");
        json.WriteString("period", today);
        Sums(json, todaySums);
        json.WriteEndObject();
        json.WriteStartObject("month");
        json.WriteString("period", today[..7]);
        Sums(json, monthSums);
        json.WriteEndObject();
        json.WriteStartArray("budgets");
        foreach (var b in budgets)
        {
            json.WriteStartObject();
            json.WriteString("name", b.Name);
            json.WriteString("scope", b.Scope.ToString());
            json.WriteString("period", b.Period.Kind);
            json.WriteString("period_key", b.Period.Key);
            json.WriteString("action", b.Options.Action.ToLowerInvariant());
            json.WriteNumber("limit_usd", b.Options.LimitUsd);
            json.WriteNumber("spent_usd", b.SpentUsd);
            json.WriteNumber("remaining_usd", Math.Max(0, b.Options.LimitUsd - b.SpentUsd));
            json.WriteString("resets_at", b.Period.End);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void Sums(Utf8JsonWriter json, UsageSums s)
    {
        json.WriteNumber("calls", s.Calls);
        json.WriteNumber("cost_usd", CostCalculator.ToUsd(s.CostNanoUsd));
    }
}
