using System.Runtime.InteropServices;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Metrics;

/// <summary>
/// What a set of call records adds to the aggregates, before model labels are granted: counters and histograms
/// keyed by <see cref="MetricKey"/> with the record's own model label, spend per call-start minute, and the record
/// count. The fold sums one minute of records into a delta and merges it into the state; each instance sums what it
/// commits into one delta per minute and publishes it (<see cref="TailSummaries"/>), and a scrape merges those for the
/// minutes not yet folded. Every sum is an integer, so both ways give the same state.
/// </summary>
internal sealed class MetricsDelta
{
    public long Records { get; set; }

    /// <summary>StartedAt of the newest record in the delta.</summary>
    public DateTimeOffset NewestStarted { get; set; }

    public Dictionary<string, long> Counters { get; set; } = new(StringComparer.Ordinal);

    public Dictionary<string, HistogramData> Histograms { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Nano-USD per UTC minute of the call's start (<c>yyyyMMddHHmm</c>), then per <c>client|model</c>.</summary>
    public Dictionary<string, Dictionary<string, long>> Spend { get; set; } = new(StringComparer.Ordinal);

    public void Add(CallRecord r)
    {
        var model = AggregateState.Label(r.BilledModel);
        var client = AggregateState.Label(r.Client);
        var method = AggregateState.Label(r.Method);
        var endpoint = AggregateState.EndpointLabel(r.Endpoint);
        var status = r.Outcome == CallOutcome.Timeout ? "timeout" : r.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture);

        Inc(MetricKey.Requests(method, endpoint, status, model, client, r.Upstream.Length == 0 ? "" : AggregateState.Label(r.Upstream)), 1);
        Inc(MetricKey.Tokens("input", model, client), r.InputTokens);
        Inc(MetricKey.Tokens("output", model, client), r.OutputTokens);
        Inc(MetricKey.Tokens("cached_input", model, client), r.CachedInputTokens);
        Inc(MetricKey.Tokens("reasoning", model, client), r.ReasoningTokens);
        Inc(MetricKey.Cost(model, client), r.CostNanoUsd);
        Inc(MetricKey.Retries(model), r.Retries);
        var metered = r.UsageSource != UsageSource.None;
        Inc(MetricKey.Unpriced(model), metered && !r.Priced ? 1 : 0);
        Inc(MetricKey.Estimated(model), r.UsageSource == UsageSource.Estimated ? 1 : 0);
        if (r.BudgetShadowBlocks.Length > 0)
        {
            foreach (var budget in r.BudgetShadowBlocks.Split(','))
            {
                Inc(MetricKey.ShadowBlocks(AggregateState.Label(budget)), 1);
            }
        }

        Observe(MetricKey.Duration(method, endpoint), (long)Math.Round(r.DurationMs * 1000));
        if (metered)
        {
            Observe(MetricKey.CostPerCall(), r.CostNanoUsd);
        }

        if (r.Streamed && r.TimeToFirstByteMs > 0)
        {
            Observe(MetricKey.TimeToFirstByte(model), (long)Math.Round(r.TimeToFirstByteMs * 1000));
        }

        var started = RecordKeys.Minute(r.StartedAt);
        if (!Spend.TryGetValue(started, out var spend))
        {
            Spend[started] = spend = new(StringComparer.Ordinal);
        }

        CollectionsMarshal.GetValueRefOrAddDefault(spend, AggregateState.SpendKey(client, model), out _) += r.CostNanoUsd;
        Records++;
        if (r.StartedAt > NewestStarted)
        {
            NewestStarted = r.StartedAt;
        }
    }

    /// <summary>Adds another delta (another instance's, or another commit's) to this one.</summary>
    public void Add(MetricsDelta other)
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

        foreach (var (minute, spend) in other.Spend)
        {
            if (!Spend.TryGetValue(minute, out var mine))
            {
                Spend[minute] = mine = new(StringComparer.Ordinal);
            }

            foreach (var (key, value) in spend)
            {
                CollectionsMarshal.GetValueRefOrAddDefault(mine, key, out _) += value;
            }
        }

        Records += other.Records;
        if (other.NewestStarted > NewestStarted)
        {
            NewestStarted = other.NewestStarted;
        }
    }

    /// <summary>Spend per <c>client|model</c>, whatever the calls' start.</summary>
    public IEnumerable<KeyValuePair<string, long>> SpendByKey() => Spend.Values.SelectMany(s => s);

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
