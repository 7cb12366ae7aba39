using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Aggregation;

/// <summary>
/// What a set of call records adds to the aggregates, before model labels are granted: counters and histograms
/// keyed by <see cref="MetricKey"/> with the record's own model label, the usage sums per <see cref="SpendKey"/> (the
/// spend report and budgets), and the record count. A delta holds the records of one write minute, the one time basis
/// of every aggregate (docs/architecture.md, "One time basis"). The fold sums one minute of records into a
/// delta and merges it into the state; each instance sums what it commits into one delta per minute and publishes it
/// (<see cref="TailSummaries"/>), and a scrape merges those for the minutes not yet folded. Every sum is an integer, so both ways give the same state.
/// </summary>
internal sealed class AggregateDelta
{
    public long Records { get; set; }

    /// <summary>StartedAt of the newest record in the delta.</summary>
    public DateTimeOffset NewestStarted { get; set; }

    public Dictionary<string, long> Counters { get; set; } = new(StringComparer.Ordinal);

    public Dictionary<string, HistogramData> Histograms { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Calls, tokens and cost per <see cref="SpendKey"/>: the spend report and budgets.</summary>
    public Dictionary<SpendKey, UsageSums> Usage { get; set; } = [];

    /// <summary>What <see cref="Usage"/> spends on keys, bounded by <see cref="SpendKeyLimit"/>.</summary>
    [JsonIgnore]
    public long KeyBytes { get; private set; }

    private static readonly IReadOnlySet<string> NoCountedTags = new HashSet<string>();

    /// <summary>Adds a record, with no tag series.</summary>
    public void Add(CallRecord r) => Add(r, NoCountedTags, SpendKeyLimit.Default);

    /// <summary>
    /// Adds a record; <paramref name="countedTags"/> are the tags that get their own series (<c>Metrics__Tags</c>), and
    /// <paramref name="limit"/> bounds the keys its spend is summed under.
    /// </summary>
    public void Add(CallRecord r, IReadOnlySet<string> countedTags, SpendKeyLimit limit)
    {
        var model = AggregateState.Label(r.BilledModel);

        // A call that failed before anything was billed (refused here, or by the upstream) counts under its model's label
        // only once a billed call has granted it: otherwise any client could spend the label cap on junk names.
        var labelModel = r.Outcome != CallOutcome.Ok && r.UsageSource == UsageSource.None ? AggregateState.Ungranted(model) : model;
        var client = AggregateState.Label(r.Client);
        var method = AggregateState.Label(r.Method);
        var endpoint = AggregateState.EndpointLabel(r.Endpoint);
        var metered = r.UsageSource != UsageSource.None;

        CountCall(r, labelModel, client, method, endpoint, metered);
        if (r.BudgetShadowBlocks.Length > 0)
        {
            CountShadowBlocks(r.BudgetShadowBlocks);
        }

        if (countedTags.Count > 0 && r.Tags.Length > 0)
        {
            CountTags(r, countedTags);
        }

        ObserveCall(r, labelModel, method, endpoint, metered);
        AddUsage(r, new SpendKey(client, model, r.EndUser, SpendKey.SortedTags(r.Tags)), limit);
        Records++;
        if (r.StartedAt > NewestStarted)
        {
            NewestStarted = r.StartedAt;
        }
    }

    /// <summary>The call's counters: its request, tokens, cost, retries, and whether it was unpriced or estimated.</summary>
    private void CountCall(CallRecord r, string labelModel, string client, string method, string endpoint, bool metered)
    {
        var status = r.Outcome == CallOutcome.Timeout ? "timeout" : r.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Inc(MetricKey.Requests(method, endpoint, status, labelModel, client, r.Upstream.Length == 0 ? "" : AggregateState.Label(r.Upstream)), 1);
        Inc(MetricKey.Tokens("input", labelModel, client), r.InputTokens);
        Inc(MetricKey.Tokens("output", labelModel, client), r.OutputTokens);
        Inc(MetricKey.Tokens("cached_input", labelModel, client), r.CachedInputTokens);
        Inc(MetricKey.Tokens("reasoning", labelModel, client), r.ReasoningTokens);
        Inc(MetricKey.Cost(labelModel, client), r.CostNanoUsd);
        Inc(MetricKey.Retries(labelModel), r.Retries);
        Inc(MetricKey.Unpriced(labelModel), metered && !r.Priced ? 1 : 0);
        Inc(MetricKey.Estimated(labelModel), r.UsageSource == UsageSource.Estimated ? 1 : 0);
    }

    /// <summary>The shadow budgets that would have blocked the call (comma-separated).</summary>
    private void CountShadowBlocks(string budgets)
    {
        foreach (var budget in budgets.Split(','))
        {
            Inc(MetricKey.ShadowBlocks(AggregateState.Label(budget)), 1);
        }
    }

    /// <summary>The call's tags that have their own series.</summary>
    private void CountTags(CallRecord r, IReadOnlySet<string> countedTags)
    {
        foreach (var tag in r.Tags.Split(','))
        {
            if (countedTags.Contains(tag))
            {
                Inc(MetricKey.TagRequests(tag), 1);
                Inc(MetricKey.TagCost(tag), r.CostNanoUsd);
            }
        }
    }

    /// <summary>The call's histograms: its duration, its cost when metered, its time to the first byte when streamed.</summary>
    private void ObserveCall(CallRecord r, string labelModel, string method, string endpoint, bool metered)
    {
        Observe(MetricKey.Duration(method, endpoint), (long)Math.Round(r.DurationMs * 1000));
        if (metered)
        {
            Observe(MetricKey.CostPerCall(), r.CostNanoUsd);
        }

        if (r.Streamed && r.TimeToFirstByteMs > 0)
        {
            Observe(MetricKey.TimeToFirstByte(labelModel), (long)Math.Round(r.TimeToFirstByteMs * 1000));
        }
    }

    /// <summary>The call's usage, summed under its key as <paramref name="limit"/> admits it.</summary>
    private void AddUsage(CallRecord r, SpendKey key, SpendKeyLimit limit)
    {
        var bytes = KeyBytes;
        var admitted = limit.Admit(Usage, ref bytes, key);
        (CollectionsMarshal.GetValueRefOrAddDefault(Usage, admitted, out _) ??= new UsageSums()).Add(r);
        KeyBytes = bytes;
    }

    /// <summary>Adds another delta (another instance's, or another commit's) to this one.</summary>
    public void Add(AggregateDelta other)
    {
        foreach (var (key, value) in other.Counters)
        {
            CollectionsMarshal.GetValueRefOrAddDefault(Counters, key, out _) += value;
        }

        foreach (var (key, h) in other.Histograms)
        {
            if (Histograms.TryGetValue(key, out var mine))
            {
                mine.Add(h);
            }
            else
            {
                Histograms[key] = h.Clone();
            }
        }

        UsageSums.AddAll(Usage, other.Usage);
        Records += other.Records;
        if (other.NewestStarted > NewestStarted)
        {
            NewestStarted = other.NewestStarted;
        }
    }

    private void Inc(MetricKey key, long value) => CollectionsMarshal.GetValueRefOrAddDefault(Counters, key.ToString(), out _) += value;

    private void Observe(MetricKey key, long units)
    {
        var text = key.ToString();
        if (!Histograms.TryGetValue(text, out var h))
        {
            Histograms[text] = h = HistogramData.For(key.Buckets);
        }

        h.Observe(key.Buckets, key.Scale, units);
    }
}
