using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Pricing;
using Prometheus;

namespace LlmFunctions.Core.Metrics;

/// <summary>
/// Renders a snapshot in Prometheus text format with prometheus-net, into a registry made for this scrape
/// (never the static default registry). Counters are set to their durable totals with <c>IncTo</c>; histograms
/// replay each bucket as one weighted observation at the bucket's mean (see <see cref="HistogramData"/>).
/// </summary>
internal static class MetricsRenderer
{
    /// <summary>What the instance that answers the scrape adds about itself.</summary>
    /// <param name="SpoolBacklog">Records in its local spool.</param>
    /// <param name="ScrapeStorageRequests">Storage requests it made to answer this scrape (billed as transactions on Azure).</param>
    /// <param name="SpoolQuarantined">Spool files set aside because they could not be replayed.</param>
    internal readonly record struct InstanceFacts(int SpoolBacklog, int ScrapeStorageRequests, int SpoolQuarantined = 0);

    public static async Task RenderAsync(Stream output, AggregateSnapshot snapshot, IReadOnlyList<BudgetGauge> budgets, InstanceFacts instance,
        CancellationToken cancellationToken)
    {
        var registry = Prometheus.Metrics.NewCustomRegistry();
        var factory = Prometheus.Metrics.WithCustomRegistry(registry);
        var counters = new CounterFamilies(factory);
        counters.SetFrom(snapshot.State.Counters);
        RenderHistograms(factory, snapshot.State.Histograms);
        RenderBudgets(factory, budgets);
        RenderInstance(factory, snapshot, instance);
        await registry.CollectAndExportAsTextAsync(output, ExpositionFormat.PrometheusText, cancellationToken).ConfigureAwait(false);
    }

    private static void RenderHistograms(MetricFactory factory, Dictionary<string, HistogramData> histograms)
    {
        var duration = factory.CreateHistogram("api_request_duration_seconds", "Request latency through the proxy.",
            new HistogramConfiguration { LabelNames = ["method", "endpoint"], Buckets = MetricBuckets.DurationSeconds });
        var costPerCallUsd = factory.CreateHistogram("api_cost_per_call_usd", "Cost of one metered call in USD.",
            new HistogramConfiguration { Buckets = MetricBuckets.CostUsd });

        // The users' per-call cost metric under its old name (a prometheus_client histogram), same data.
        var costPerCall = factory.CreateHistogram("api_cost_per_call", "Cost of one metered call in USD (legacy name; prefer api_cost_per_call_usd).",
            new HistogramConfiguration { Buckets = MetricBuckets.CostUsd });
        var ttfb = factory.CreateHistogram("api_time_to_first_byte_seconds", "Time to the first streamed byte.",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = MetricBuckets.TimeToFirstByteSeconds });

        foreach (var (text, h) in histograms)
        {
            if (!MetricKey.TryParse(text, out var key))
            {
                continue;
            }

            switch (key.Kind)
            {
                case MetricKind.Duration:
                    Replay(duration.WithLabels(key.Method, key.Endpoint), h, key);
                    break;
                case MetricKind.CostPerCall:
                    Replay(costPerCallUsd, h, key);
                    Replay(costPerCall, h, key);
                    break;
                case MetricKind.TimeToFirstByte:
                    Replay(ttfb.WithLabels(key.Model), h, key);
                    break;
            }
        }
    }

    private static void RenderBudgets(MetricFactory factory, IReadOnlyList<BudgetGauge> budgets)
    {
        if (budgets.Count == 0)
        {
            return;
        }

        string[] labels = ["budget", "scope", "period"];
        var spent = factory.CreateGauge("api_budget_spent_usd", "Spend in the budget's current period, as of the last rollup.", labels);
        var limit = factory.CreateGauge("api_budget_limit_usd", "The budget's limit for its period.", labels);
        var remaining = factory.CreateGauge("api_budget_period_remaining_seconds", "Seconds until the budget's period resets in its time zone.", labels);
        foreach (var b in budgets)
        {
            spent.WithLabels(b.Budget, b.Scope, b.Period).Set(b.SpentUsd);
            limit.WithLabels(b.Budget, b.Scope, b.Period).Set(b.LimitUsd);
            remaining.WithLabels(b.Budget, b.Scope, b.Period).Set(b.PeriodRemainingSeconds);
        }
    }

    /// <summary>The metering pipeline's own state, as this scrape and the instance answering it see it.</summary>
    private static void RenderInstance(MetricFactory factory, AggregateSnapshot snapshot, InstanceFacts instance)
    {
        factory.CreateGauge("llm_metering_unfolded_records", "Records written but not yet folded into the aggregates (added live to this scrape).")
            .Set(snapshot.UnfoldedRecords);
        factory.CreateGauge("llm_metering_spool_backlog", "Records in this instance's local spool, waiting for storage.")
            .Set(instance.SpoolBacklog);
        factory.CreateGauge("llm_metering_spool_quarantined_files", "Spool files this instance set aside because they could not be replayed (see its log).")
            .Set(instance.SpoolQuarantined);
        factory.CreateGauge("llm_metering_scrape_storage_requests", "Storage requests the answering instance made for this scrape.")
            .Set(instance.ScrapeStorageRequests);
        factory.CreateGauge("llm_metering_newest_folded_age_seconds", "Age of the newest folded record.")
            .Set(snapshot.NewestFoldedAge?.TotalSeconds ?? 0);
    }

    private static double Usd(long nano) => (double)Pricing.CostCalculator.ToUsd(nano);

    private static void Replay(IHistogram histogram, HistogramData data, MetricKey key)
    {
        var bounds = key.Buckets;
        for (var i = 0; i < data.Counts.Length; i++)
        {
            var count = data.Counts[i];
            if (count == 0)
            {
                continue;
            }

            // The mean of a bucket's observations lies inside the bucket; clamp against rounding at its edges.
            var lower = i == 0 ? double.NegativeInfinity : bounds[i - 1];
            var upper = i < bounds.Length ? bounds[i] : double.PositiveInfinity;
            var mean = data.Sum(i, key.Scale) / count;
            if (mean <= lower)
            {
                mean = Math.BitIncrement(lower);
            }

            if (mean > upper)
            {
                mean = upper;
            }

            histogram.Observe(mean, count);
        }
    }

    /// <summary>
    /// The counter families, created in the order they are exposed, and the totals the summed ones are set from once every
    /// key was read. A struct, used as one local: a scrape allocates nothing more for it than the families themselves.
    /// </summary>
    private struct CounterFamilies
    {
        private readonly Counter _requests;
        private readonly Counter _byStatus;
        private readonly Counter _timeouts;
        private readonly Counter _tokens;
        private readonly Counter _cost;
        private readonly Counter _costByModel;
        private readonly Counter _costByClient;
        private readonly Counter _retries;
        private readonly Counter _unpriced;
        private readonly Counter _estimated;
        private readonly Counter _shadowBlocks;
        private readonly Counter _requestsByTag;
        private readonly Counter _costByTag;
        private readonly Dictionary<string, long> _costByModelTotals = new(StringComparer.Ordinal);
        private readonly Dictionary<string, long> _costByClientTotals = new(StringComparer.Ordinal);
        private readonly Dictionary<string, long> _byStatusTotals = new(StringComparer.Ordinal);
        private long _costTotal;
        private long _timeoutTotal;

        public CounterFamilies(MetricFactory factory)
        {
            _requests = factory.CreateCounter("api_requests_total", "Requests through the proxy, by HTTP status (or \"timeout\").",
                new CounterConfiguration { LabelNames = ["method", "endpoint", "status", "model", "client", "upstream"] });

            // The users' name, kept for their existing alerts (status="429", status=~"5.."). It breaks the "_total"
            // convention for counters, which `promtool check metrics` reports; api_requests_total carries the same data.
            _byStatus = factory.CreateCounter("api_requests_by_status", "Requests by status only (legacy name; prefer api_requests_total).",
                new CounterConfiguration { LabelNames = ["status"] });
            _timeouts = factory.CreateCounter("api_timeout_total", "Upstream timeouts.");
            _tokens = factory.CreateCounter("api_tokens_total", "Tokens by type (input, output, cached_input, reasoning).",
                new CounterConfiguration { LabelNames = ["token_type", "model", "client"] });
            _cost = factory.CreateCounter("api_cost_usd_total", "Cumulative cost in USD.");
            _costByModel = factory.CreateCounter("api_cost_by_model_total", "Cumulative cost in USD by model.",
                new CounterConfiguration { LabelNames = ["model"] });
            _costByClient = factory.CreateCounter("api_cost_by_client_total", "Cumulative cost in USD by client.",
                new CounterConfiguration { LabelNames = ["client"] });
            _retries = factory.CreateCounter("api_upstream_retries_total", "Retries sent to the upstream.",
                new CounterConfiguration { LabelNames = ["model"] });
            _unpriced = factory.CreateCounter("api_unpriced_requests_total", "Metered calls to a model without a price (recorded at cost 0).",
                new CounterConfiguration { LabelNames = ["model"] });
            _estimated = factory.CreateCounter("api_estimated_usage_total", "Calls whose tokens were estimated because the response carried no usage.",
                new CounterConfiguration { LabelNames = ["model"] });

            _shadowBlocks = factory.CreateCounter("api_budget_shadow_blocks_total", "Calls a shadow budget would have blocked (nothing was blocked).",
                new CounterConfiguration { LabelNames = ["budget"] });

            _requestsByTag = factory.CreateCounter("api_requests_by_tag_total", "Requests by tag, for the tags listed in Metrics__Tags.",
                new CounterConfiguration { LabelNames = ["tag"] });
            _costByTag = factory.CreateCounter("api_cost_by_tag_total",
                "Cumulative cost in USD by tag, for the tags listed in Metrics__Tags (a call with two listed tags counts in both).",
                new CounterConfiguration { LabelNames = ["tag"] });
        }

        /// <summary>Sets every family from the state's counters.</summary>
        public void SetFrom(Dictionary<string, long> counters)
        {
            foreach (var (text, value) in counters)
            {
                if (MetricKey.TryParse(text, out var key))
                {
                    Set(key, value);
                }
            }

            SetTotals();
        }

        /// <summary>Sets one key's series, or adds it to the totals it is summed into.</summary>
        private void Set(in MetricKey key, long value)
        {
            switch (key.Kind)
            {
                case MetricKind.Requests:
                    _requests.WithLabels(key.Method, key.Endpoint, key.Status, key.Model, key.Client, key.Upstream).IncTo(value);
                    _byStatusTotals[key.Status] = _byStatusTotals.GetValueOrDefault(key.Status) + value;
                    if (key.Status == "timeout")
                    {
                        _timeoutTotal += value;
                    }

                    break;
                case MetricKind.Tokens:
                    _tokens.WithLabels(key.TokenType, key.Model, key.Client).IncTo(value);
                    break;
                case MetricKind.Cost:
                    _costTotal += value;
                    _costByModelTotals[key.Model] = _costByModelTotals.GetValueOrDefault(key.Model) + value;
                    _costByClientTotals[key.Client] = _costByClientTotals.GetValueOrDefault(key.Client) + value;
                    break;
                case MetricKind.Retries:
                    _retries.WithLabels(key.Model).IncTo(value);
                    break;
                case MetricKind.ShadowBlocks:
                    _shadowBlocks.WithLabels(key.Budget).IncTo(value);
                    break;
                case MetricKind.TagRequests:
                    _requestsByTag.WithLabels(key.Tag).IncTo(value);
                    break;
                case MetricKind.TagCost:
                    _costByTag.WithLabels(key.Tag).IncTo(Usd(value));
                    break;
                case MetricKind.Unpriced:
                    _unpriced.WithLabels(key.Model).IncTo(value);
                    break;
                case MetricKind.Estimated:
                    _estimated.WithLabels(key.Model).IncTo(value);
                    break;
            }
        }

        private readonly void SetTotals()
        {
            foreach (var (status, value) in _byStatusTotals)
            {
                _byStatus.WithLabels(status).IncTo(value);
            }

            _timeouts.IncTo(_timeoutTotal);
            _cost.IncTo(Usd(_costTotal));
            foreach (var (model, value) in _costByModelTotals)
            {
                _costByModel.WithLabels(model).IncTo(Usd(value));
            }

            foreach (var (client, value) in _costByClientTotals)
            {
                _costByClient.WithLabels(client).IncTo(Usd(value));
            }
        }
    }
}
