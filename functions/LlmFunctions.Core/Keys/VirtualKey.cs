namespace LlmFunctions.Core.Keys;

/// <summary>
/// One client key issued through the admin API, as stored and cached: the SHA-256 of its secret (the secret itself is
/// shown once, at creation or rotation, and kept nowhere), the client name it bills to, and its limits. Immutable: a
/// change is a new value with a higher <see cref="Seq"/>, so an instance applies the changes it reads in any order.
/// </summary>
internal sealed record VirtualKey
{
    /// <summary>Public and stable (survives rotation): <c>key_</c> and 24 hex digits.</summary>
    public required string Id { get; init; }

    /// <summary>The client label of every call made with this key: in records, metrics, reports and budgets.</summary>
    public required string Name { get; init; }

    /// <summary>SHA-256 of the current secret, as 64 hex digits.</summary>
    public required string KeySha256 { get; init; }

    /// <summary>SHA-256 of the secret a rotation replaced, accepted until <see cref="PreviousValidUntil"/>.</summary>
    public string? PreviousKeySha256 { get; init; }

    public DateTimeOffset? PreviousValidUntil { get; init; }

    /// <summary>Canonical model names or prefixes (ending in <c>*</c>) the key may call; empty: any.</summary>
    public IReadOnlyList<string> Models { get; init; } = [];

    public KeyBudget? Budget { get; init; }

    /// <summary>Requests per minute on each instance; null: no limit.</summary>
    public int? Rpm { get; init; }

    /// <summary>Tokens (input and output) per minute on each instance; null: no limit.</summary>
    public long? Tpm { get; init; }

    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>The caller's own labels (string values), returned as given; never used for routing or billing.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    public required DateTimeOffset CreatedAt { get; init; }

    public required DateTimeOffset UpdatedAt { get; init; }

    public DateTimeOffset? RotatedAt { get; init; }

    public DateTimeOffset? RevokedAt { get; init; }

    /// <summary>The change that made this value, numbered across all keys (see <see cref="KeyStore"/>).</summary>
    public required long Seq { get; init; }

    public KeyStatus StatusAt(DateTimeOffset now) =>
        RevokedAt is not null ? KeyStatus.Revoked
        : ExpiresAt is { } expires && expires <= now ? KeyStatus.Expired
        : KeyStatus.Active;

    /// <summary>Whether the rotated-out secret still works at <paramref name="now"/>.</summary>
    public bool PreviousValidAt(DateTimeOffset now) => PreviousKeySha256 is not null && PreviousValidUntil is { } until && now < until;

    /// <summary>Whether <paramref name="model"/> (canonical) is one the key may call.</summary>
    public bool Allows(string model)
    {
        if (Models.Count == 0)
        {
            return true;
        }

        foreach (var allowed in Models)
        {
            if (allowed.EndsWith('*')
                    ? model.StartsWith(allowed.AsSpan(0, allowed.Length - 1), StringComparison.OrdinalIgnoreCase)
                    : string.Equals(model, allowed, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
