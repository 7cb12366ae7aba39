using LlmFunctions.Core.Security;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Metrics;

/// <summary>Start-up check of <c>Metrics__BearerToken</c> against what a bearer reader takes (<see cref="BearerKey"/>).</summary>
internal sealed class MetricsOptionsValidator : IValidateOptions<MetricsOptions>
{
    public ValidateOptionsResult Validate(string? name, MetricsOptions options) =>
        options.BearerToken is { Length: > BearerKey.MaxLength }
            ? ValidateOptionsResult.Fail($"Metrics__BearerToken must be at most {BearerKey.MaxLength} characters (a longer bearer value is never read).")
            : ValidateOptionsResult.Success;
}
