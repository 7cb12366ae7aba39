using LlmFunctions.Core.Pricing;

namespace LlmFunctions.Core.Aggregation;

/// <summary>The series an aggregate belongs to. Each kind has a fixed set of labels (see <see cref="MetricKey"/>).</summary>
internal enum MetricKind
{
    Requests,
    Tokens,
    Cost,
    Retries,
    Unpriced,
    Estimated,
    Duration,
    CostPerCall,
    TimeToFirstByte,
    ShadowBlocks,
    TagRequests,
    TagCost,
}

/// <summary>
/// One aggregate's key: its kind and its label values, shared by <see cref="AggregateState"/>, which sums under it,
/// and <see cref="MetricsRenderer"/>, which reads it. Stored as text (<c>name|label|…</c>, the format of the stored
/// state) through <see cref="ToString"/> and <see cref="Parse"/>; labels a kind does not have are empty.
/// </summary>
internal readonly record struct MetricKey(
    MetricKind Kind, string Method = "", string Endpoint = "", string Status = "", string TokenType = "", string Model = "", string Client = "",
    string Upstream = "", string Budget = "", string Tag = "")
{
    private const char Separator = '|';

    /// <summary>A call's key; <paramref name="upstream"/> is empty for calls that reached no upstream, and in keys stored
    /// before upstreams were counted (the same text, so both sum under one series).</summary>
    public static MetricKey Requests(string method, string endpoint, string status, string model, string client, string upstream = "") =>
        new(MetricKind.Requests, Method: method, Endpoint: endpoint, Status: status, Model: model, Client: client, Upstream: upstream);

    public static MetricKey Tokens(string tokenType, string model, string client) => new(MetricKind.Tokens, TokenType: tokenType, Model: model, Client: client);

    public static MetricKey Cost(string model, string client) => new(MetricKind.Cost, Model: model, Client: client);

    public static MetricKey Retries(string model) => new(MetricKind.Retries, Model: model);

    public static MetricKey Unpriced(string model) => new(MetricKind.Unpriced, Model: model);

    public static MetricKey Estimated(string model) => new(MetricKind.Estimated, Model: model);

    public static MetricKey Duration(string method, string endpoint) => new(MetricKind.Duration, Method: method, Endpoint: endpoint);

    public static MetricKey CostPerCall() => new(MetricKind.CostPerCall);

    public static MetricKey TimeToFirstByte(string model) => new(MetricKind.TimeToFirstByte, Model: model);

    /// <summary>Calls a <c>shadow</c> budget would have blocked.</summary>
    public static MetricKey ShadowBlocks(string budget) => new(MetricKind.ShadowBlocks, Budget: budget);

    /// <summary>Calls with a tag listed in <c>Metrics__Tags</c>.</summary>
    public static MetricKey TagRequests(string tag) => new(MetricKind.TagRequests, Tag: tag);

    /// <summary>Nano-USD of the calls with a tag listed in <c>Metrics__Tags</c>.</summary>
    public static MetricKey TagCost(string tag) => new(MetricKind.TagCost, Tag: tag);

    /// <summary>True for the kinds labelled by model, whose label a merge maps through the model grants.</summary>
    public bool HasModel => Kind is MetricKind.Requests or MetricKind.Tokens or MetricKind.Cost or MetricKind.Retries or MetricKind.Unpriced
        or MetricKind.Estimated or MetricKind.TimeToFirstByte;

    /// <summary>A histogram's bucket bounds, in the unit its values are rendered in.</summary>
    public double[] Buckets => Kind switch
    {
        MetricKind.Duration => MetricBuckets.DurationSeconds,
        MetricKind.CostPerCall => MetricBuckets.CostUsd,
        MetricKind.TimeToFirstByte => MetricBuckets.TimeToFirstByteSeconds,
        _ => throw new InvalidOperationException($"{Kind} is not a histogram."),
    };

    /// <summary>A histogram's observations are summed as whole units of 1/<see cref="Scale"/>: microseconds, nano-USD.</summary>
    public double Scale => Kind == MetricKind.CostPerCall ? Pricing.CostCalculator.NanoPerUsd : 1_000_000;

    public override string ToString() => Kind switch
    {
        MetricKind.Requests => Upstream.Length == 0
            ? Join("requests", Method, Endpoint, Status, Model, Client)
            : Join("requests", Method, Endpoint, Status, Model, Client, Upstream),
        MetricKind.Tokens => Join("tokens", TokenType, Model, Client),
        MetricKind.Cost => Join("cost", Model, Client),
        MetricKind.Retries => Join("retries", Model),
        MetricKind.Unpriced => Join("unpriced", Model),
        MetricKind.Estimated => Join("estimated", Model),
        MetricKind.Duration => Join("duration", Method, Endpoint),
        MetricKind.CostPerCall => "cost_per_call",
        MetricKind.TimeToFirstByte => Join("ttfb", Model),
        MetricKind.ShadowBlocks => Join("shadow_blocks", Budget),
        MetricKind.TagRequests => Join("tag_requests", Tag),
        MetricKind.TagCost => Join("tag_cost", Tag),
        _ => throw new InvalidOperationException($"Unknown metric kind {Kind}."),
    };

    /// <summary>Reads a stored key; false for a key this version does not know (a newer writer's), which is skipped.</summary>
    public static bool TryParse(string text, out MetricKey key)
    {
        var p = text.Split(Separator);
        MetricKey? parsed = (p[0], p.Length) switch
        {
            ("requests", 6) => Requests(p[1], p[2], p[3], p[4], p[5]),
            ("requests", 7) => Requests(p[1], p[2], p[3], p[4], p[5], p[6]),
            ("tokens", 4) => Tokens(p[1], p[2], p[3]),
            ("cost", 3) => Cost(p[1], p[2]),
            ("retries", 2) => Retries(p[1]),
            ("unpriced", 2) => Unpriced(p[1]),
            ("estimated", 2) => Estimated(p[1]),
            ("duration", 3) => Duration(p[1], p[2]),
            ("cost_per_call", 1) => CostPerCall(),
            ("ttfb", 2) => TimeToFirstByte(p[1]),
            ("shadow_blocks", 2) => ShadowBlocks(p[1]),
            ("tag_requests", 2) => TagRequests(p[1]),
            ("tag_cost", 2) => TagCost(p[1]),
            _ => null,
        };
        key = parsed ?? default;
        return parsed is not null;
    }

    private static string Join(params ReadOnlySpan<string> parts) => string.Join(Separator, parts);
}
