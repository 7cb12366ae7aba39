using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Aggregation;

/// <summary>
/// Every metric as a sum over call records, keyed by <see cref="MetricKey"/> (stored as its text). Merging deltas is
/// the only operation: values never go down.
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

    /// <summary>Adds one record (a delta of one).</summary>
    public void Add(CallRecord r, int maxModels)
    {
        var delta = new AggregateDelta();
        delta.Add(r);
        Merge(delta, maxModels);
    }

    /// <summary>
    /// Adds a delta. Models the delta brings that have no label yet are granted one in ordinal order while under the
    /// cap, so the same minute of records grants the same labels whether the fold adds them or a scrape adds that
    /// minute's summaries; past the cap they count as <c>other</c>.
    /// </summary>
    public void Merge(AggregateDelta delta, int maxModels)
    {
        var counters = Parse(delta.Counters);
        var histograms = Parse(delta.Histograms);
        var fresh = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var key in counters.Select(c => c.Key).Concat(histograms.Select(h => h.Key)))
        {
            if (key.HasModel && !IsUngranted(key.Model) && !Models.Contains(key.Model))
            {
                fresh.Add(key.Model);
            }
        }

        foreach (var model in fresh)
        {
            if (Models.Count >= maxModels)
            {
                break;
            }

            Models.Add(model);
        }

        foreach (var (key, value) in counters)
        {
            CollectionsMarshal.GetValueRefOrAddDefault(Counters, Granted(key).ToString(), out _) += value;
        }

        foreach (var (key, h) in histograms)
        {
            var granted = Granted(key).ToString();
            if (Histograms.TryGetValue(granted, out var mine))
            {
                mine.Add(h);
            }
            else
            {
                Histograms[granted] = h.Clone();
            }
        }

        if (delta.NewestStarted > NewestFolded)
        {
            NewestFolded = delta.NewestStarted;
        }
    }

    /// <summary>A delta's stored keys, parsed once; a key this version does not know is skipped.</summary>
    private static List<(MetricKey Key, T Value)> Parse<T>(Dictionary<string, T> values)
    {
        var parsed = new List<(MetricKey, T)>(values.Count);
        foreach (var (text, value) in values)
        {
            if (MetricKey.TryParse(text, out var key))
            {
                parsed.Add((key, value));
            }
        }

        return parsed;
    }

    private MetricKey Granted(MetricKey key)
    {
        if (!key.HasModel)
        {
            return key;
        }

        var model = IsUngranted(key.Model) ? key.Model[1..] : key.Model;
        return Models.Contains(model) ? key with { Model = model } : key with { Model = "other" };
    }

    /// <summary>
    /// A model label that may use a granted label but never grants one (<c>~</c> is outside <see cref="Label"/>'s
    /// characters, so no model name can spell it): the model of a call that failed before anything was billed.
    /// </summary>
    internal static string Ungranted(string label) => "~" + label;

    private static bool IsUngranted(string model) => model.StartsWith('~');

    private static readonly string[] KnownEndpoints =
    [
        "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses", "/v1/models",
        "/v1/moderations", "/v1/images/generations", "/v1/audio/transcriptions", "/v1/audio/speech",
        "/v1/messages", "/v1/messages/count_tokens",
    ];

    /// <summary>Bounded endpoint label: the known OpenAI and Anthropic routes, <c>/v1/models/…</c> folded, else <c>other</c>.</summary>
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
}

[JsonSerializable(typeof(AggregateState))]
[JsonSerializable(typeof(Dictionary<string, long>))]
[JsonSerializable(typeof(AggregateDelta))]
[JsonSerializable(typeof(Dictionary<SpendKey, UsageSums>))]
internal sealed partial class AggregateJsonContext : JsonSerializerContext;
