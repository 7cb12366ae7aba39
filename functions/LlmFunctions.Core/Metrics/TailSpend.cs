using System.Runtime.InteropServices;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Metrics;

/// <summary>
/// The spend of a snapshot's unfolded tail, summed per <c>client|model</c> key and whole second of the call's start:
/// what budgets add to the folded spend rows for a period that starts at any whole second. The tail is everything
/// written since the fold's watermark — a minute or two of calls, tens of thousands under load — so a snapshot keeps
/// these sums rather than the records.
/// </summary>
internal sealed class TailSpend
{
    private readonly Dictionary<(long Second, string Key), long> _nanoUsd = [];

    /// <summary>Sums kept: one per second and key, whatever the number of records.</summary>
    public int Count => _nanoUsd.Count;

    public void Add(CallRecord record)
    {
        var second = record.StartedAt.UtcTicks / TimeSpan.TicksPerSecond;
        CollectionsMarshal.GetValueRefOrAddDefault(_nanoUsd, (second, AggregateState.SpendKey(record)), out _) += record.CostNanoUsd;
    }

    /// <summary>
    /// Adds to <paramref name="spend"/> the tail's spend of calls started at or after <paramref name="start"/>. Exact
    /// for a start on a whole second, which every budget period's is (local midnight, or the first valid quarter hour
    /// after a skipped one; zone offsets are whole minutes).
    /// </summary>
    public void AddSince(DateTimeOffset start, Dictionary<string, long> spend)
    {
        var first = (start.UtcTicks + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond;
        foreach (var ((second, key), nanoUsd) in _nanoUsd)
        {
            if (second >= first)
            {
                CollectionsMarshal.GetValueRefOrAddDefault(spend, key, out _) += nanoUsd;
            }
        }
    }
}
