using LlmFunctions.Core.Aggregation;
using Microsoft.Extensions.Options;
using NCrontab;

namespace LlmFunctions.Core.Budgets;

/// <summary>Start-up checks of <c>Budgets__*</c>, each failure naming the key.</summary>
internal sealed class BudgetsValidator : IValidateOptions<BudgetsOptions>
{
    public ValidateOptionsResult Validate(string? name, BudgetsOptions options)
    {
        var errors = new List<string>();
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(options.TimeZone, out _))
        {
            errors.Add($"Budgets__TimeZone '{options.TimeZone}' is not a known IANA time zone (for example Asia/Shanghai).");
        }

        if (CrontabSchedule.TryParse(options.Schedule, new CrontabSchedule.ParseOptions { IncludingSeconds = true }) is null)
        {
            errors.Add($"Budgets__Schedule '{options.Schedule}' is not a six-field NCRONTAB expression (for example '0 */5 * * * *').");
        }

        if (options.RefreshSeconds is < 1 or > 3600)
        {
            errors.Add("Budgets__RefreshSeconds must be a whole number of seconds between 1 and 3600.");
        }

        if (options.MaxCostPerCallUsd is <= 0)
        {
            errors.Add("Budgets__MaxCostPerCallUsd must be a positive number of USD.");
        }

        foreach (var (budget, b) in options.Items)
        {
            if (budget.StartsWith('~'))
            {
                errors.Add($"Budgets__{budget}: a budget's name cannot start with '~' (the rollup table keeps its own rows there).");
            }

            ValidateBudget(errors, $"Budgets__{budget}", b);
        }

        if (options.DefaultMaxOutputTokens < 1)
        {
            errors.Add("Budgets__DefaultMaxOutputTokens must be a positive number of tokens.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>The checks of one budget, <paramref name="key"/> being its prefix (<c>Budgets__name</c>).</summary>
    private static void ValidateBudget(List<string> errors, string key, BudgetOptions b)
    {
        if (!BudgetScope.TryParse(b.Scope, out _))
        {
            errors.Add($"{key}__Scope '{b.Scope}' must be global, client:<client>, model:<model>, tag:<tag> or user:<user>.");
        }

        if (b.Period.ToLowerInvariant() is not ("day" or "month"))
        {
            errors.Add($"{key}__Period '{b.Period}' must be day or month.");
        }

        if (b.LimitUsd <= 0)
        {
            errors.Add($"{key}__LimitUsd must be a positive number of USD.");
        }

        if (BudgetThresholds.Parse(b.Thresholds) is null)
        {
            errors.Add($"{key}__Thresholds '{b.Thresholds}' must be comma-separated percents between 1 and 1000.");
        }

        switch (b.Action.ToLowerInvariant())
        {
            case "notify" or "block" or "shadow":
                break;
            case "downgrade" when !string.IsNullOrWhiteSpace(b.DowngradeTo):
                break;
            case "downgrade":
                errors.Add($"{key}__DowngradeTo is required when {key}__Action is downgrade.");
                break;
            default:
                errors.Add($"{key}__Action '{b.Action}' must be notify, block, downgrade or shadow.");
                break;
        }

        if (b.Reserve && !string.Equals(b.Action, "block", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{key}__Reserve applies to block budgets only ({key}__Action is '{b.Action}').");
        }
    }
}
