using System.Collections.Concurrent;
using System.Text;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Pricing;
using LlmFunctions.Core.Records;
using Microsoft.Extensions.Logging;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// Puts tokens and cost on a call's record: the usage the upstream reported, else an estimate from the request and
/// the text seen. A model without a price is recorded as unpriced at cost 0, never guessed.
/// </summary>
internal sealed partial class CallBilling(PriceTable prices, TokenEstimator estimator, ILogger<CallBilling> logger)
{
    /// <summary>Models already warned about (bounded: past it, junk names are counted in the metric, not logged).</summary>
    private readonly ConcurrentDictionary<string, byte> _warnedUnpriced = new(StringComparer.Ordinal);

    private const int MaxWarnedModels = 1000;

    /// <summary>Tokens in a request body's prompt, for estimates and the per-call cost cap.</summary>
    public long PromptTokens(string model, ReadOnlySpan<byte> requestBody) => estimator.Count(model, RequestFacts.PromptText(requestBody));

    /// <summary>
    /// Bills reported usage, or an estimate when none came and the endpoint is metered: the request's prompt and
    /// <paramref name="text"/>, the generated text seen (none: no output tokens estimated).
    /// </summary>
    public void Bill(CallRecord record, Usage? reported, string path, ReadOnlySpan<byte> requestBody, StringBuilder? text)
    {
        if (reported is { } usage)
        {
            Bill(record, usage, UsageSource.Reported);
        }
        else if (Endpoints.IsMetered(path))
        {
            var model = record.UsedModel;
            var output = Endpoints.IsGenerative(path) && text is not null ? estimator.Count(model, text.ToString()) : 0;
            Bill(record, new Usage(PromptTokens(model, requestBody), 0, output, 0), UsageSource.Estimated);
        }
    }

    /// <summary>
    /// A stream cut before its final usage: what it reported so far (<paramref name="seen"/>: a Messages stream's input and
    /// cache counts), with the output at least the tokens of <paramref name="text"/>, the text seen; marked estimated.
    /// </summary>
    public void BillSeenAndEstimate(CallRecord record, Usage seen, StringBuilder text)
    {
        var output = Math.Max(seen.OutputTokens, estimator.Count(record.UsedModel, text.ToString()));
        Bill(record, seen with { OutputTokens = output }, UsageSource.Estimated);
    }

    private void Bill(CallRecord record, Usage usage, string source)
    {
        record.InputTokens = usage.InputTokens;
        record.CachedInputTokens = usage.CachedInputTokens;
        record.OutputTokens = usage.OutputTokens;
        record.ReasoningTokens = usage.ReasoningTokens;
        record.CacheWriteTokens = usage.CacheWriteTokens;
        record.CacheWrite1hTokens = usage.CacheWrite1hTokens;
        record.UsageSource = source;
        if (prices.TryGetPrice(record.UsedModel, out var price) || prices.TryGetPrice(record.ResponseModel, out price))
        {
            record.Priced = true;
            record.CostNanoUsd = CostCalculator.CostNanoUsd(price, usage.InputTokens, usage.CachedInputTokens, usage.OutputTokens, usage.CacheWriteTokens,
                usage.CacheWrite1hTokens);
        }
        else
        {
            record.Priced = false;
            record.CostNanoUsd = 0;
            if (_warnedUnpriced.Count < MaxWarnedModels && _warnedUnpriced.TryAdd(record.BilledModel, 0))
            {
                LogUnpriced(logger, record.BilledModel);
            }
        }
    }

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning,
        Message = "Model {Model} has no price: its calls are recorded at $0 with Priced=false (api_unpriced_requests_total). Give it a price "
            + "(Pricing__Models__<model>__Input and __Output) or refuse such calls (Pricing__RefuseUnpriced=true). Logged once per model.")]
    private static partial void LogUnpriced(ILogger logger, string model);
}
