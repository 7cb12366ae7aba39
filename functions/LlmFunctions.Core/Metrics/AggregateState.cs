using System.Globalization;
using System.Text.Json.Serialization;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Metrics;

/// <summary>
/// Every metric as a sum over call records. Keys are <c>name|label|label…</c> with label values in the order of
/// <see cref="MetricsRenderer"/>'s label names. Adding records is the only operation: values never go down.
/// </summary>
internal sealed class AggregateState
{
    internal const char Separator = '|';

    /// <summary>The next minute to fold (<c>yyyyMMddHHmm</c>): every record in an earlier minute is included.</summary>
    public string Watermark { get; set; } = "";

    public long FoldedRecords { get; set; }

    /// <summary>StartedAt of the newest record folded so far.</summary>
    public DateTimeOffset NewestFolded { get; set; }

    public Dictionary<string, long> Counters { get; set; } = new(StringComparer.Ordinal);

    public Dictionary<string, HistogramData> Histograms { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Model label values granted so far, in order; past the cap, new models count as <c>other</c>.</summary>
    public List<string> Models { get; set; } = [];

    public void Add(CallRecord r, int maxModels)
    {
        var model = ModelLabel(r.BilledModel, maxModels, grant: true);
        var client = Label(r.Client);
        var method = Label(r.Method);
        var endpoint = EndpointLabel(r.Endpoint);
        var status = r.Outcome == CallOutcome.Timeout ? "timeout" : r.StatusCode.ToString(CultureInfo.InvariantCulture);

        Inc(Key("requests", method, endpoint, status, model, client), 1);
        Inc(Key("tokens", "input", model, client), r.InputTokens);
        Inc(Key("tokens", "output", model, client), r.OutputTokens);
        Inc(Key("tokens", "cached_input", model, client), r.CachedInputTokens);
        Inc(Key("tokens", "reasoning", model, client), r.ReasoningTokens);
        Inc(Key("cost", model, client), r.CostNanoUsd);
        Inc(Key("retries", model), r.Retries);
        var metered = r.UsageSource != UsageSource.None;
        Inc(Key("unpriced", model), metered && !r.Priced ? 1 : 0);
        Inc(Key("estimated", model), r.UsageSource == UsageSource.Estimated ? 1 : 0);

        Observe(Key("duration", method, endpoint), MetricBuckets.DurationSeconds, r.DurationMs / 1000);
        if (metered)
        {
            Observe("cost_per_call", MetricBuckets.CostUsd, r.CostNanoUsd / (double)Pricing.CostCalculator.NanoPerUsd);
        }

        if (r.Streamed && r.TimeToFirstByteMs > 0)
        {
            Observe(Key("ttfb", model), MetricBuckets.TimeToFirstByteSeconds, r.TimeToFirstByteMs / 1000);
        }

        if (r.StartedAt > NewestFolded)
        {
            NewestFolded = r.StartedAt;
        }
    }

    /// <summary>The model label: the name while under the cap (granted in fold order), else <c>other</c>.</summary>
    public string ModelLabel(string model, int maxModels, bool grant)
    {
        var label = string.IsNullOrEmpty(model) ? "none" : Label(model);
        if (Models.Contains(label))
        {
            return label;
        }

        if (Models.Count < maxModels)
        {
            if (grant)
            {
                Models.Add(label);
            }

            return label;
        }

        return "other";
    }

    private static readonly string[] KnownEndpoints =
    [
        "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses", "/v1/models",
        "/v1/moderations", "/v1/images/generations", "/v1/audio/transcriptions", "/v1/audio/speech",
    ];

    /// <summary>Bounded endpoint label: the known OpenAI routes, <c>/v1/models/…</c> folded, else <c>other</c>.</summary>
    internal static string EndpointLabel(string endpoint)
    {
        foreach (var known in KnownEndpoints)
        {
            if (string.Equals(endpoint, known, StringComparison.Ordinal))
            {
                return known;
            }
        }

        return endpoint.StartsWith("/v1/models/", StringComparison.Ordinal) ? "/v1/models" : "other";
    }

    /// <summary>Label values keep a safe character set and length, so no input can break a key or the exposition.</summary>
    internal static string Label(string value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "none";
        }

        Span<char> buffer = stackalloc char[Math.Min(value.Length, 100)];
        for (var i = 0; i < buffer.Length; i++)
        {
            var c = value[i];
            buffer[i] = char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':' or '/' or '@' or '+' ? c : '_';
        }

        return new string(buffer);
    }

    internal static string Key(params ReadOnlySpan<string> parts) => string.Join(Separator, parts);

    /// <summary>The <c>client|model</c> key spend is kept under (15-minute slots, budget tails).</summary>
    internal static string SpendKey(CallRecord r) => Key(Label(r.Client), Label(r.BilledModel));

    /// <summary>Splits a <see cref="SpendKey"/> back into client and model.</summary>
    internal static (string Client, string Model) SplitSpendKey(string key)
    {
        var sep = key.IndexOf(Separator, StringComparison.Ordinal);
        return (key[..sep], key[(sep + 1)..]);
    }

    private void Inc(string key, long value)
    {
        if (value == 0 && Counters.ContainsKey(key))
        {
            return;
        }

        Counters[key] = Counters.GetValueOrDefault(key) + value;
    }

    private void Observe(string key, double[] bounds, double value)
    {
        if (!Histograms.TryGetValue(key, out var h))
        {
            Histograms[key] = h = HistogramData.For(bounds);
        }

        h.Observe(bounds, value);
    }
}

[JsonSerializable(typeof(AggregateState))]
[JsonSerializable(typeof(Dictionary<string, long>))]
internal sealed partial class AggregateJsonContext : JsonSerializerContext;
