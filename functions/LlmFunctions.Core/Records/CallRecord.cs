using System.Text.Json.Serialization;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Pricing;

namespace LlmFunctions.Core.Records;

/// <summary>
/// One call, as stored in its day's <c>LlmCallsyyyyMMdd</c> table (see <see cref="TableNames"/>). It never holds prompt or completion text.
/// <see cref="RecordKeys"/> explains the keys. Its columns are declared in <see cref="CallRecordColumns"/>; the spool and the journal
/// store it as JSON (<see cref="SpoolJsonContext"/>) under its property names, which those files hold to: rename none.
/// </summary>
internal sealed class CallRecord
{
    public required string CallId { get; set; }

    /// <summary>When the call arrived at the proxy.</summary>
    public required DateTimeOffset StartedAt { get; set; }

    public required string Client { get; set; }

    /// <summary>OpenAI's <c>user</c> from the request: who the client says the call is for.</summary>
    public string EndUser { get; set; } = "";

    /// <summary>Tags from the <c>x-llm-tags</c> header, comma-separated.</summary>
    public string Tags { get; set; } = "";

    /// <summary>The request's <c>metadata</c> object (string values), as compact JSON; empty when none.</summary>
    public string Metadata { get; set; } = "";

    /// <summary>The model the client asked for, by its canonical name (<c>PriceTable.Canonical</c>): what budgets, labels and reports use.</summary>
    public string Model { get; set; } = "";

    /// <summary>The model as the client spelled it, when that differs from <see cref="Model"/> (<c>openai/GPT-4.1</c>); else empty.</summary>
    public string RequestedModel { get; set; } = "";

    /// <summary>The model sent upstream when a budget downgraded the call; otherwise empty.</summary>
    public string UsedModel { get; set; } = "";

    /// <summary>The model the call is billed and counted under: the one sent upstream, else the one requested.</summary>
    [JsonIgnore]
    public string BilledModel => string.IsNullOrEmpty(UsedModel) ? Model : UsedModel;

    /// <summary>The model the upstream said it used.</summary>
    public string ResponseModel { get; set; } = "";

    public required string Method { get; set; }

    public required string Endpoint { get; set; }

    public int StatusCode { get; set; }

    public string Outcome { get; set; } = CallOutcome.Ok;

    public long InputTokens { get; set; }

    public long CachedInputTokens { get; set; }

    public long OutputTokens { get; set; }

    public long ReasoningTokens { get; set; }

    /// <summary>Input tokens written to the provider's prompt cache (part of <see cref="InputTokens"/>), when reported.</summary>
    public long CacheWriteTokens { get; set; }

    /// <summary>
    /// Of <see cref="CacheWriteTokens"/>, those written for an hour (Anthropic's <c>ephemeral_1h_input_tokens</c>, priced
    /// apart); the rest are 5-minute writes.
    /// </summary>
    public long CacheWrite1hTokens { get; set; }

    public long CostNanoUsd { get; set; }

    [JsonIgnore]
    public double CostUsd => CostNanoUsd / (double)Pricing.CostCalculator.NanoPerUsd;

    public bool Priced { get; set; }

    public string UsageSource { get; set; } = Records.UsageSource.None;

    public double DurationMs { get; set; }

    public double TimeToFirstByteMs { get; set; }

    public bool Streamed { get; set; }

    public int Retries { get; set; }

    public string UpstreamRequestId { get; set; } = "";

    /// <summary>The upstream that answered, or failed last (<c>default</c>: <c>Upstream__*</c>); empty when none was tried.</summary>
    public string Upstream { get; set; } = "";

    /// <summary>How many upstreams were tried (more than one after a fallback).</summary>
    public int UpstreamsTried { get; set; }

    /// <summary>The <c>shadow</c> budgets that would have blocked this call, comma-separated; empty when none.</summary>
    public string BudgetShadowBlocks { get; set; } = "";

    /// <summary>True once <see cref="Shrink"/> cut this record down after storage refused it.</summary>
    [JsonIgnore]
    public bool Shrunk { get; private set; }

    /// <summary>A copy, for a write that may <see cref="Shrink"/> it while the spool keeps the record whole.</summary>
    public CallRecord Copy() => (CallRecord)MemberwiseClone();

    /// <summary>
    /// Cuts the record to what bills and counts it, for a second try after storage refused it: attribution and the
    /// upstream's id go, every other text is cut to 128 characters. Tokens, cost, status and timings stay.
    /// </summary>
    public void Shrink()
    {
        Shrunk = true;
        (EndUser, Tags, Metadata, UpstreamRequestId) = ("", "", "", "");
        Model = Cut(Model);
        RequestedModel = Cut(RequestedModel);
        UsedModel = Cut(UsedModel);
        ResponseModel = Cut(ResponseModel);
        Outcome = Cut(Outcome);
        UsageSource = Cut(UsageSource);
        Upstream = Cut(Upstream);
        BudgetShadowBlocks = Cut(BudgetShadowBlocks);

        static string Cut(string value) => value.Length <= 128 ? value : value[..128];
    }
}
