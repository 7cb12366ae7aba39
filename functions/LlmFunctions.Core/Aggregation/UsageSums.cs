using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Aggregation;

/// <summary>What a set of calls adds up to: the figures of one spend report row, in whole units (tokens, nano-USD).</summary>
internal sealed class UsageSums
{
    [JsonPropertyName("n")]
    public long Calls { get; set; }

    [JsonPropertyName("i")]
    public long InputTokens { get; set; }

    [JsonPropertyName("o")]
    public long OutputTokens { get; set; }

    [JsonPropertyName("c")]
    public long CachedInputTokens { get; set; }

    [JsonPropertyName("usd")]
    public long CostNanoUsd { get; set; }

    /// <summary>Metered calls to a model without a price (recorded at cost 0).</summary>
    [JsonPropertyName("u")]
    public long UnpricedCalls { get; set; }

    public void Add(CallRecord r)
    {
        Calls++;
        InputTokens += r.InputTokens;
        OutputTokens += r.OutputTokens;
        CachedInputTokens += r.CachedInputTokens;
        CostNanoUsd += r.CostNanoUsd;
        UnpricedCalls += r.UsageSource != UsageSource.None && !r.Priced ? 1 : 0;
    }

    public void Add(UsageSums other)
    {
        Calls += other.Calls;
        InputTokens += other.InputTokens;
        OutputTokens += other.OutputTokens;
        CachedInputTokens += other.CachedInputTokens;
        CostNanoUsd += other.CostNanoUsd;
        UnpricedCalls += other.UnpricedCalls;
    }

    public UsageSums Clone() => (UsageSums)MemberwiseClone();

    /// <summary>Adds every key's sums of <paramref name="from"/> into <paramref name="into"/>.</summary>
    public static void AddAll(Dictionary<SpendKey, UsageSums> into, IReadOnlyDictionary<SpendKey, UsageSums> from)
    {
        foreach (var (key, sums) in from)
        {
            Add(into, key, sums);
        }
    }

    /// <summary>Adds <paramref name="sums"/> under <paramref name="key"/> in <paramref name="into"/> (a copy when the key is new).</summary>
    public static void Add(Dictionary<SpendKey, UsageSums> into, SpendKey key, UsageSums sums)
    {
        ref var mine = ref CollectionsMarshal.GetValueRefOrAddDefault(into, key, out var exists);
        if (exists)
        {
            mine!.Add(sums);
        }
        else
        {
            mine = sums.Clone();
        }
    }

    /// <summary>Adds each key's cost in <paramref name="usage"/> to <paramref name="nanoUsd"/>.</summary>
    public static void AddCosts(Dictionary<SpendKey, long> nanoUsd, IReadOnlyDictionary<SpendKey, UsageSums> usage)
    {
        foreach (var (key, sums) in usage)
        {
            CollectionsMarshal.GetValueRefOrAddDefault(nanoUsd, key, out _) += sums.CostNanoUsd;
        }
    }
}
