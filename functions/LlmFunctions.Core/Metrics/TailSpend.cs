using System.Runtime.InteropServices;
using LlmFunctions.Core.Spend;

namespace LlmFunctions.Core.Metrics;

/// <summary>
/// The spend of a snapshot's unfolded tail per <see cref="SpendKey"/> and UTC minute of the call's start: what budgets
/// add to the folded spend rows for a period that starts on any whole minute (every budget period does: local
/// midnight, or the first valid quarter hour after a skipped one, in zones whose offsets are whole minutes).
/// </summary>
internal sealed class TailSpend
{
    private readonly Dictionary<(long Minute, SpendKey Key), long> _nanoUsd = [];

    /// <summary>Sums kept: one per minute and key, whatever the number of records.</summary>
    public int Count => _nanoUsd.Count;

    public void Add(MetricsDelta delta)
    {
        foreach (var (started, spend) in delta.Spend)
        {
            var minute = Records.RecordKeys.ParseMinute(started).UtcTicks / TimeSpan.TicksPerMinute;
            foreach (var (key, nanoUsd) in spend)
            {
                CollectionsMarshal.GetValueRefOrAddDefault(_nanoUsd, (minute, key), out _) += nanoUsd;
            }
        }
    }

    /// <summary>
    /// Adds to <paramref name="spend"/> the tail's spend of calls started at or after <paramref name="start"/>, exact
    /// for a start on a whole minute (a later start within a minute counts from the next minute).
    /// </summary>
    public void AddSince(DateTimeOffset start, Dictionary<SpendKey, long> spend)
    {
        var first = (start.UtcTicks + TimeSpan.TicksPerMinute - 1) / TimeSpan.TicksPerMinute;
        foreach (var ((minute, key), nanoUsd) in _nanoUsd)
        {
            if (minute >= first)
            {
                CollectionsMarshal.GetValueRefOrAddDefault(spend, key, out _) += nanoUsd;
            }
        }
    }
}
