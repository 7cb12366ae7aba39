namespace LlmFunctions.Tests.Infrastructure;

/// <summary>
/// Tests whose assertions depend on wall-clock windows (a real Prometheus scraping every second and evaluating
/// 1-minute `increase()` alerts). They run alone, after the parallel collections, so that the load tests'
/// thousand streams cannot starve a scrape past its 1 s timeout and leave an alert window without samples.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitive
{
    public const string Name = "Timing-sensitive (runs alone)";
}
