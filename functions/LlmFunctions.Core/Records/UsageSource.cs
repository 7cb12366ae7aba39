namespace LlmFunctions.Core.Records;

/// <summary>The <c>UsageSource</c> values of a call record.</summary>
internal static class UsageSource
{
    public const string Reported = "reported";
    public const string Estimated = "estimated";
    public const string None = "none";
}
