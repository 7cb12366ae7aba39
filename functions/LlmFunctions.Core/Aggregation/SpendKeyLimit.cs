using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Aggregation;

/// <summary>
/// Bounds what one aggregate row (a slot row, an instance's tail sums of a minute) spends on <see cref="SpendKey"/>s.
/// End users, tag sets and models are chosen by callers, so a row keyed by them would grow with every new name until
/// it no longer fits in a table entity or a fold transaction, and the fold would stop for good. Once a row's keys
/// reach <see cref="MaxRowBytes"/> (an upper bound on their JSON), a new key keeps its client and whatever budgets
/// and <c>Metrics__Tags</c> name, and the rest becomes <see cref="Other"/>: first its user and unnamed tags, then its
/// model. Totals stay exact, and so does every budget's figure; only the report's breakdown of those callers is lost.
/// </summary>
internal sealed class SpendKeyLimit
{
    /// <summary>What a lumped user, tag or model reads as: parentheses are not allowed in a tag, a label or a model.</summary>
    public const string Other = "(other)";

    /// <summary>The bound on a row's keys and sums as JSON: gzip'd it fits one entity (<see cref="Aggregation.ChunkedJson"/>).</summary>
    public const long MaxRowBytes = 800_000;

    /// <summary>No names kept beyond the row bound (tests, and rows read back).</summary>
    public static SpendKeyLimit Default { get; } = new([], [], []);

    private readonly HashSet<string> _users;
    private readonly HashSet<string> _tags;
    private readonly HashSet<string> _models;

    public SpendKeyLimit(IEnumerable<string> users, IEnumerable<string> tags, IEnumerable<string> models)
    {
        _users = new HashSet<string>(users, StringComparer.Ordinal);
        _tags = new HashSet<string>(tags, StringComparer.Ordinal);
        _models = new HashSet<string>(models, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Keeps the users, tags and models budgets name, and the tags <c>Metrics__Tags</c> counts.</summary>
    public SpendKeyLimit(IEnumerable<BudgetScope> budgets, IOptions<MetricsOptions> metrics)
        : this(Named(budgets, "user"), Named(budgets, "tag").Concat(metrics.Value.TagSet()), Named(budgets, "model"))
    {
    }

    /// <summary>
    /// The key <paramref name="key"/> is summed under in a row that holds <paramref name="row"/> and spends
    /// <paramref name="bytes"/> on them: itself when present or when it fits, else its reduction; adds the cost of a
    /// new key to <paramref name="bytes"/>.
    /// </summary>
    public SpendKey Admit<T>(Dictionary<SpendKey, T> row, ref long bytes, SpendKey key)
    {
        if (row.ContainsKey(key))
        {
            return key;
        }

        if (bytes + Cost(key) > MaxRowBytes)
        {
            var fewer = new SpendKey(key.Client, key.Model, KeepUser(key.User), KeepTags(key.Tags));
            key = row.ContainsKey(fewer) || bytes + Cost(fewer) <= MaxRowBytes
                ? fewer
                : fewer with { Model = _models.Contains(fewer.Model) ? fewer.Model : Other };
            if (row.ContainsKey(key))
            {
                return key;
            }
        }

        // Past the bound only keys made of configured names get in: as many as clients × what budgets name.
        bytes += Cost(key);
        return key;
    }

    /// <summary>Adds every key's sums of <paramref name="from"/> into <paramref name="into"/>, within the bound.</summary>
    public void AddAll(Dictionary<SpendKey, UsageSums> into, ref long bytes, IReadOnlyDictionary<SpendKey, UsageSums> from)
    {
        foreach (var (key, sums) in from)
        {
            UsageSums.Add(into, Admit(into, ref bytes, key), sums);
        }
    }

    /// <summary>The bytes a row with these keys spends on them (<see cref="Cost"/> summed).</summary>
    public static long Bytes<T>(Dictionary<SpendKey, T> row)
    {
        long bytes = 0;
        foreach (var key in row.Keys)
        {
            bytes += Cost(key);
        }

        return bytes;
    }

    /// <summary>
    /// At least the JSON a key and its sums take: a character the JSON encoder escapes takes six bytes, others one
    /// (tags use a plain character set); the six sums take at most 160.
    /// </summary>
    internal static long Cost(SpendKey key) => 160 + Json(key.Client) + Json(key.Model) + key.Tags.Length + Json(key.User);

    private static long Json(string text)
    {
        long bytes = 0;
        foreach (var c in text)
        {
            bytes += c is >= ' ' and < (char)0x7f and not ('"' or '\\' or '<' or '>' or '&' or '\'' or '+' or '`') ? 1 : 6;
        }

        return bytes;
    }

    private string KeepUser(string user) => user.Length == 0 || _users.Contains(user) ? user : Other;

    private string KeepTags(string tags)
    {
        if (tags.Length == 0)
        {
            return tags;
        }

        var kept = tags.Split(',').Where(_tags.Contains).ToList();
        if (kept.Count < tags.Count(c => c == ',') + 1)
        {
            kept.Add(Other);
        }

        kept.Sort(StringComparer.Ordinal);
        return string.Join(',', kept);
    }

    private static IEnumerable<string> Named(IEnumerable<BudgetScope> budgets, string kind) => budgets.Where(s => s.Kind == kind).Select(s => s.Value);
}
