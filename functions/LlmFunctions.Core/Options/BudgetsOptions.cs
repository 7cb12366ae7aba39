namespace LlmFunctions.Core;

/// <summary>
/// Budgets (section <c>Budgets</c>). Every child other than the settings below is one budget,
/// so <c>Budgets__daily__LimitUsd</c> defines the budget <c>daily</c>.
/// </summary>
public sealed class BudgetsOptions
{
    public const string SectionName = "Budgets";

    /// <summary>IANA zone where a day or month starts, e.g. <c>Asia/Shanghai</c>. Default UTC.</summary>
    public string TimeZone { get; set; } = "UTC";

    /// <summary>
    /// <see cref="TimeZone"/> as a zone: the one place it is parsed (the start-up check refuses an unknown one), for the
    /// rollup, the spend report and the day rows, which must cut days at the same midnight.
    /// </summary>
    public TimeZoneInfo Zone => TimeZoneInfo.FindSystemTimeZoneById(TimeZone);

    /// <summary>NCRONTAB (six fields) for the rollup timer. Default every 5 minutes.</summary>
    public string Schedule { get; set; } = "0 */5 * * * *";

    /// <summary>Once a day, send yesterday's spend by model and client to every webhook. Default false.</summary>
    public bool DailySummary { get; set; }

    /// <summary>
    /// How often each instance re-reads the rollup rows to enforce <c>block</c> and <c>downgrade</c> budgets, in
    /// seconds (1–3600). Default 5: another instance's rollup takes effect here within that long.
    /// </summary>
    public int RefreshSeconds { get; set; } = 5;

    /// <summary>Output tokens assumed for a call's worst case when it sets no <c>max_tokens</c>. Default 16,384.</summary>
    public long DefaultMaxOutputTokens { get; set; } = 16_384;

    /// <summary>Refuse a call whose worst-case cost exceeds this. Unset: no guard.</summary>
    public decimal? MaxCostPerCallUsd { get; set; }

    /// <summary>The budgets by name (bound from the other children, see the class remarks).</summary>
    public Dictionary<string, BudgetOptions> Items { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>One budget: <c>Budgets__&lt;name&gt;__*</c>.</summary>
public sealed class BudgetOptions
{
    /// <summary><c>global</c>, <c>client:&lt;client&gt;</c>, <c>model:&lt;model&gt;</c>, <c>tag:&lt;tag&gt;</c> or <c>user:&lt;user&gt;</c>.</summary>
    public string Scope { get; set; } = "global";

    /// <summary><c>day</c> or <c>month</c>.</summary>
    public string Period { get; set; } = "day";

    public decimal LimitUsd { get; set; }

    /// <summary>Percents that notify. Default <c>50,80,100</c>.</summary>
    public string Thresholds { get; set; } = "50,80,100";

    /// <summary><c>notify</c>, <c>block</c> or <c>downgrade</c> (at 100 %).</summary>
    public string Action { get; set; } = "notify";

    /// <summary>The cheaper model for <c>downgrade</c>.</summary>
    public string? DowngradeTo { get; set; }

    /// <summary>
    /// For <c>block</c>: reserve each call's worst case from a ledger in storage before forwarding it, so the budget
    /// holds under any concurrency and number of instances (see <c>BudgetLedger</c>). A call whose worst case does not
    /// fit is refused. Default false: the budget blocks once spend reaches it, as rollups and this instance see it.
    /// </summary>
    public bool Reserve { get; set; }
}
