using System.Globalization;
using System.Security.Cryptography;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Security;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Keys;

/// <summary>Who a call's key belongs to: its client name and, for a virtual key, the key and its limits; or why it is refused.</summary>
internal readonly record struct KeyCheck(string? Client, VirtualKey? Key, ApiFailure? Refusal);

/// <summary>
/// Finds the client a bearer key belongs to: first the clients in app settings (kept only as SHA-256 hashes and compared
/// with <see cref="CryptographicOperations.FixedTimeEquals"/> against every one, so neither the comparison nor the loop
/// tells through timing which bytes or which client matched), then the virtual keys (<see cref="KeyDirectory"/>), found by
/// their hash in one dictionary read whatever their number. Looking a hash up leaks at most which hashes exist, and a
/// hash gives nobody its key.
/// </summary>
internal sealed class ClientAuthenticator
{
    /// <summary>How long a call with a key this instance does not know waits for a read of the virtual keys.</summary>
    private static readonly TimeSpan ReadWait = TimeSpan.FromSeconds(5);

    private readonly (string Name, byte[] Hash)[] _clients;
    private readonly KeyDirectory _keys;
    private readonly TimeProvider _time;

    public ClientAuthenticator(IOptions<Dictionary<string, ClientOptions>> options, KeyDirectory keys, TimeProvider time)
    {
        _keys = keys;
        _time = time;
        _clients = options.Value
            .Select(c => (c.Key, Hash(c.Value)))
            .ToArray();
    }

    /// <summary>The clients in app settings.</summary>
    public int Count => _clients.Length;

    public IEnumerable<string> Names => _clients.Select(c => c.Name);

    /// <summary>The client and key for an <c>Authorization</c> header value, or the refusal to answer with.</summary>
    public ValueTask<KeyCheck> AuthenticateAsync(string? authorization, CancellationToken cancellationToken)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        return BearerKey.TryHash(authorization, hash) ? ByHashAsync(hash, cancellationToken) : ValueTask.FromResult(new KeyCheck(null, null, Missing()));
    }

    /// <summary>
    /// The same for a key sent as <c>x-api-key</c> (the Anthropic SDKs, Claude Code) or <c>Authorization: Bearer</c>
    /// (<c>ANTHROPIC_AUTH_TOKEN</c>): both with different keys, or <c>x-api-key</c> twice, is refused.
    /// </summary>
    public ValueTask<KeyCheck> AuthenticateAsync(string? authorization, Microsoft.Extensions.Primitives.StringValues apiKey,
        CancellationToken cancellationToken)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        return BearerKey.TryHashEither(authorization, apiKey, hash) switch
        {
            KeyRead.Read => ByHashAsync(hash, cancellationToken),
            KeyRead.Conflicting => ValueTask.FromResult(new KeyCheck(null, null,
                ApiFailure.InvalidKey("x-api-key and Authorization carry different keys (or x-api-key is given twice); send one key."))),
            _ => ValueTask.FromResult(new KeyCheck(null, null, Missing("Send it as 'x-api-key: <key>' or 'Authorization: Bearer <key>'."))),
        };
    }

    /// <summary>The client and key for a key's SHA-256: a settings client, else a virtual key (read first if unknown here).</summary>
    private ValueTask<KeyCheck> ByHashAsync(ReadOnlySpan<byte> hash, CancellationToken cancellationToken)
    {
        if (Find(hash) is { } client)
        {
            return ValueTask.FromResult(new KeyCheck(client, null, null));
        }

        return _keys.IsLoaded && _keys.Find(hash) is { } found ? ValueTask.FromResult(Judge(found)) : ReadThenCheckAsync(hash.ToArray(), cancellationToken);
    }

    /// <summary>A key this instance does not know (yet): waits for the first read of the keys, or reads their changes now.</summary>
    private async ValueTask<KeyCheck> ReadThenCheckAsync(byte[] hash, CancellationToken cancellationToken)
    {
        if (!_keys.IsLoaded)
        {
            try
            {
                return await _keys.WaitLoadedAsync(ReadWait, cancellationToken).ConfigureAwait(false)
                    ? Check(hash)
                    : new KeyCheck(null, null, ApiFailure.KeysUnavailable);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return new KeyCheck(null, null, ApiFailure.ClientCancelled);
            }
        }

        if (!await _keys.RefreshNowAsync(ReadWait, cancellationToken).ConfigureAwait(false) && cancellationToken.IsCancellationRequested)
        {
            return new KeyCheck(null, null, ApiFailure.ClientCancelled); // the caller left while the keys were read
        }

        return Check(hash);
    }

    /// <summary>A virtual key by its hash, judged now (<see cref="Judge"/>), or refused as no key.</summary>
    private KeyCheck Check(ReadOnlySpan<byte> hash) => _keys.Find(hash) is { } found ? Judge(found) : new KeyCheck(null, null, Missing());

    /// <summary>A virtual key found by one of its secrets, judged now: usable, or refused naming the key's id (never a secret).</summary>
    private KeyCheck Judge((VirtualKey Key, bool Current) found)
    {
        var (key, current) = found;
        var now = _time.GetUtcNow();
        return key.StatusAt(now) switch
        {
            KeyStatus.Revoked =>
                new KeyCheck(null, null, ApiFailure.KeyRefused("key_revoked", Invariant($"The key {key.Id} was revoked at {key.RevokedAt:u}."))),
            KeyStatus.Expired => new KeyCheck(null, null, ApiFailure.KeyRefused("key_expired", Invariant($"The key {key.Id} expired at {key.ExpiresAt:u}."))),
            _ when !current && !key.PreviousValidAt(now) => new KeyCheck(null, null, ApiFailure.KeyRefused("key_rotated",
                Invariant($"This secret of the key {key.Id} was replaced at {key.RotatedAt:u} and stopped working at {key.PreviousValidUntil:u}. ")
                + "Use the key's new secret.")),
            _ => new KeyCheck(key.Name, key, null),
        };
    }

    private ApiFailure Missing(string how = "Send it as 'Authorization: Bearer <key>'.") => ApiFailure.InvalidKey(Count == 0 && _keys.Count == 0
        ? "No client keys are configured on this proxy (Clients__<name>__Key, or POST /keys), so every call is refused."
        : "Incorrect or missing API key. " + how);

    /// <summary>The client of a usable key with this SHA-256 (settings or virtual, without waiting on a first read), or null.</summary>
    public string? FindActive(ReadOnlySpan<byte> hash) =>
        Find(hash) ?? (_keys.IsLoaded && Check(hash) is { Client: { } client } ? client : null);

    /// <summary>The settings client whose key has this SHA-256, or null.</summary>
    internal string? Find(ReadOnlySpan<byte> hash)
    {
        string? match = null;
        foreach (var (name, expected) in _clients)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, expected))
            {
                match = name;
            }
        }

        return match;
    }

    internal static byte[] Hash(ClientOptions client)
    {
        if (!string.IsNullOrEmpty(client.KeySha256))
        {
            return Convert.FromHexString(client.KeySha256.Trim());
        }

        return BearerKey.HashOf(client.Key!);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
