using NCrontab;

namespace LlmFunctions.FunctionsHost;

/// <summary>A timer-triggered function on a six-field NCRONTAB schedule (UTC, as the host without WEBSITE_TIME_ZONE).</summary>
internal sealed record TimerFunction(string Id, string Name, string TriggerBinding, CrontabSchedule Schedule, bool RunOnStartup)
    : FunctionDescriptor(Id, Name, TriggerBinding)
{
    /// <summary>The first occurrence strictly after <paramref name="after"/>.</summary>
    public DateTimeOffset Next(DateTimeOffset after) => new(Schedule.GetNextOccurrence(after.UtcDateTime), TimeSpan.Zero);
}
