using LlmFunctions.Core.Http;
using LlmFunctions.Core.Keys;
using LlmFunctions.Core.Records;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// A virtual key's own limits on a call, once its model is known and before budgets: the models it may call (403
/// <c>model_not_allowed</c>), then its <c>rpm</c> and <c>tpm</c> (429 with <c>Retry-After</c>). Tokens are estimated from
/// the prompt and <c>max_tokens</c> (times <c>n</c>) and the estimate is settled to the call's usage when it ends
/// (<see cref="Settle"/>).
/// </summary>
internal sealed class KeyAdmission(KeyLimiter limiter, CallBilling billing)
{
    public ApiFailure? Admit(HttpContext context, VirtualKey key, CallRecord record, string path, RequestFacts? facts, PooledBufferWriter body)
    {
        if (key.Models.Count > 0 && record.Model.Length == 0 && Endpoints.IsMetered(path))
        {
            return ApiFailure.ModelNotAllowed($"The key {key.Id} may call only some models, and this call names none; send 'model' in a JSON body.");
        }

        if (record.Model.Length > 0 && !key.Allows(record.Model))
        {
            return ApiFailure.ModelNotAllowed(
                $"The key {key.Id} may not call the model '{Text.Truncate(record.Model)}'; it may call: {string.Join(", ", key.Models)}.");
        }

        long estimate = 0;
        if (key.Tpm is { } tpm && record.Model.Length > 0 && Endpoints.IsMetered(path))
        {
            estimate = billing.PromptTokens(record.Model, body.WrittenSpan) + ((facts?.MaxOutputTokens ?? 0) * (facts?.Choices ?? 1));
            if (estimate > tpm)
            {
                return ApiFailure.Rejected(400, "tokens_exceed_tpm",
                    $"This call may use up to {estimate} tokens (prompt and max_tokens), more than the key {key.Id}'s limit of {tpm} tokens a minute. "
                    + "Lower max_tokens or shorten the prompt.");
            }
        }

        var (lease, retryAfter, limit) = limiter.TryAdmit(key, estimate);
        if (limit is not null)
        {
            OpenAIError.SetRetryAfter(context.Response, retryAfter);
            return ApiFailure.TooManyRequests(limit == "rpm"
                ? $"The key {key.Id} is over its limit of {key.Rpm} requests a minute; retry after {Math.Ceiling(retryAfter.TotalSeconds)} s."
                : $"The key {key.Id} is over its limit of {key.Tpm} tokens a minute; retry after {Math.Ceiling(retryAfter.TotalSeconds)} s.");
        }

        if (lease is not null)
        {
            context.Features.Set(lease);
        }

        return null;
    }

    /// <summary>Settles the call's tokens to its usage: once; later calls do nothing.</summary>
    public static void Settle(HttpContext context, CallRecord record) =>
        context.Features.Get<KeyLimiter.Lease>()?.Settle(record.InputTokens + record.OutputTokens);
}
