using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Telemetry;

/// <summary>
/// Each metered call as OpenTelemetry sees a GenAI client call (the semantic conventions for generative AI): a
/// span <c>{operation} {model}</c> and the metrics <c>gen_ai.client.token.usage</c> and
/// <c>gen_ai.client.operation.duration</c>, built from the call's record once it is complete, plus our cost. Names,
/// models and numbers only: no prompt, completion or key is ever an attribute. With no listener (OpenTelemetry not
/// configured) it returns at its first check.
/// </summary>
internal sealed class GenAiTelemetry : IDisposable
{
    /// <summary>The <see cref="ActivitySource"/> and <see cref="Meter"/> name to subscribe to.</summary>
    public const string SourceName = "LlmFunctions";

    private static readonly long[] TokenBuckets = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
    private static readonly double[] DurationBuckets = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

    private readonly ActivitySource _source = new(SourceName);
    private readonly Meter _meter;
    private readonly Histogram<long> _tokens;
    private readonly Histogram<double> _duration;
    private readonly HashSet<string> _azureUpstreams;

    public GenAiTelemetry(IMeterFactory meters, IEnumerable<string> azureUpstreams)
    {
        _azureUpstreams = [.. azureUpstreams];
        _meter = meters.Create(SourceName);
        _tokens = _meter.CreateHistogram("gen_ai.client.token.usage", "{token}", "Number of input and output tokens used.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = TokenBuckets });
        _duration = _meter.CreateHistogram("gen_ai.client.operation.duration", "s", "GenAI operation duration.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
    }

    /// <summary>Reports a finished call: a no-op unless something listens, or for calls that are not GenAI operations.</summary>
    public void Report(CallRecord record)
    {
        if (!_source.HasListeners() && !_tokens.Enabled && !_duration.Enabled)
        {
            return;
        }

        if (OperationOf(record.Endpoint) is not { } operation)
        {
            return;
        }

        var provider = record.Endpoint == "/v1/" + Endpoints.Messages ? "anthropic"
            : _azureUpstreams.Contains(record.Upstream) ? "azure.ai.openai" : "openai";
        var failed = record.StatusCode is >= 400 or 0;
        var errorType = failed ? (record.Outcome == CallOutcome.Timeout ? "timeout" : record.StatusCode.ToString(CultureInfo.InvariantCulture)) : null;
        var tags = new TagList
        {
            { "gen_ai.operation.name", operation },
            { "gen_ai.provider.name", provider },
            { "gen_ai.request.model", record.Model },
        };
        if (record.ResponseModel.Length > 0)
        {
            tags.Add("gen_ai.response.model", record.ResponseModel);
        }

        if (errorType is not null)
        {
            tags.Add("error.type", errorType);
        }

        if (_duration.Enabled)
        {
            _duration.Record(record.DurationMs / 1000, tags);
        }

        if (_tokens.Enabled && !failed)
        {
            var input = tags;
            input.Add("gen_ai.token.type", "input");
            _tokens.Record(record.InputTokens, input);
            var output = tags;
            output.Add("gen_ai.token.type", "output");
            _tokens.Record(record.OutputTokens, output);
        }

        if (_source.HasListeners())
        {
            StartSpan(record, operation, tags, failed, errorType);
        }
    }

    public void Dispose()
    {
        _source.Dispose();
        _meter.Dispose();
    }

    private void StartSpan(CallRecord record, string operation, TagList tags, bool failed, string? errorType)
    {
        // Created at the end with the call's start time: one place that knows every value, and nothing on the way. Its
        // parent is the request's activity only when that one is recorded: an unrecorded one (ASP.NET Core creates it
        // for logging even when nobody traces requests) would make a parent-based sampler drop this span.
        var current = Activity.Current;
        var parent = current is { Recorded: true } ? current.Context : default;
        Activity.Current = null;
        Activity? span;
        try
        {
            span = _source.StartActivity($"{operation} {record.Model}", ActivityKind.Client, parent, tags, startTime: record.StartedAt);
        }
        finally
        {
            Activity.Current = current;
        }

        if (span is null)
        {
            return;
        }

        span.SetTag("gen_ai.usage.input_tokens", record.InputTokens);
        span.SetTag("gen_ai.usage.output_tokens", record.OutputTokens);
        span.SetTag("http.response.status_code", record.StatusCode);
        span.SetTag("llmfunctions.cost_usd", record.CostUsd);
        span.SetTag("llmfunctions.client", record.Client);
        span.SetTag("llmfunctions.upstream", record.Upstream);
        span.SetTag("llmfunctions.call_id", record.CallId);
        if (failed)
        {
            span.SetStatus(ActivityStatusCode.Error, errorType);
        }

        span.SetEndTime((record.StartedAt + TimeSpan.FromMilliseconds(record.DurationMs)).UtcDateTime);
        span.Stop();
        Activity.Current = current;
    }

    /// <summary>The GenAI operation of a metered endpoint (<c>gen_ai.operation.name</c>); null for the others.</summary>
    private static string? OperationOf(string endpoint) => endpoint switch
    {
        "/v1/" + Endpoints.ChatCompletions or "/v1/responses" or "/v1/" + Endpoints.Messages => "chat",
        "/v1/completions" => "text_completion",
        "/v1/embeddings" => "embeddings",
        _ => null,
    };
}
