using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Keys;

/// <summary>
/// The admin API's changes: create, patch, rotate and revoke. Each reads its body strictly (<see cref="KeyRequest"/>),
/// commits through <see cref="KeyStore"/> with its audit row, and applies the result on this instance at once.
/// </summary>
internal sealed partial class KeyEditor(
    KeyStore store, KeyDirectory directory, IOptions<Dictionary<string, ClientOptions>> settings, IOptions<KeysOptions> options, TimeProvider time)
{
    private static readonly string[] CreateFields = ["name", "models", "budget", "rpm", "tpm", "expires_at", "metadata"];
    private static readonly string[] PatchFields = ["models", "budget", "rpm", "tpm", "expires_at", "metadata"];
    private static readonly string[] RotateFields = ["grace_seconds", "force"];

    public static bool IsVirtualId(string id) => VirtualId().IsMatch(id);

    public static ApiFailure NotFound(string id) =>
        ApiFailure.Rejected(404, "key_not_found", $"No key has the id '{Text.Truncate(id)}'. GET /keys lists them.");

    public async Task<ApiFailure?> CreateAsync(HttpContext context, string caller)
    {
        var (request, failure) = await ReadAsync(context, CreateFields).ConfigureAwait(false);
        if (request is null)
        {
            return failure;
        }

        if (!request.Name.IsSet)
        {
            return Invalid("'name' is required: the client label of every call made with the key.");
        }

        var name = request.Name.Value!;
        if (settings.Value.Keys.Any(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase)))
        {
            return NameTaken(name, "a client in app settings (Clients__" + name + "__*)");
        }

        if (!await directory.WaitLoadedAsync(TimeSpan.FromSeconds(5), context.RequestAborted).ConfigureAwait(false))
        {
            return ApiFailure.KeysUnavailable; // the count below is not known yet
        }

        if (directory.Count >= options.Value.MaxKeys)
        {
            return ApiFailure.Rejected(409, "key_limit_reached", $"This proxy holds its limit of {options.Value.MaxKeys} keys (Keys__MaxKeys).");
        }

        var now = time.GetUtcNow();
        var secret = NewSecret();
        var key = Apply(request, new VirtualKey
        {
            Id = "key_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)),
            Name = name,
            KeySha256 = Convert.ToHexStringLower(BearerKey.HashOf(secret)),
            CreatedAt = now,
            UpdatedAt = now,
            Seq = 0,
        });
        var commit = await store.CreateAsync(key, KeyChanges.Between(null, key, now), caller, context.RequestAborted).ConfigureAwait(false);
        return commit.Outcome switch
        {
            KeyStore.CommitOutcome.Done => await DoneAsync(context, 201, commit.Key!, secret).ConfigureAwait(false),
            KeyStore.CommitOutcome.NameTaken => NameTaken(name, "another key (names are never reused, revoked keys' included)"),
            _ => Busy,
        };
    }

    public async Task<ApiFailure?> PatchAsync(HttpContext context, string id, string caller)
    {
        if (ReadOnly(id) is { } readOnly)
        {
            return readOnly;
        }

        var (request, failure) = await ReadAsync(context, [.. PatchFields, "name"]).ConfigureAwait(false);
        if (request is null)
        {
            return failure;
        }

        if (request.Name.IsSet)
        {
            return Invalid("A key's name cannot change: it is the client label of its calls in records, metrics and reports. Create a new key.");
        }

        return await ChangeAsync(context, id, caller, null, (key, now) =>
            key.RevokedAt is not null ? Revoked(key) : (Apply(request, key) with { UpdatedAt = now }, "patch", null)).ConfigureAwait(false);
    }

    public async Task<ApiFailure?> RotateAsync(HttpContext context, string id, string caller)
    {
        if (ReadOnly(id) is { } readOnly)
        {
            return readOnly;
        }

        var (request, failure) = await ReadAsync(context, RotateFields, emptyAllowed: true).ConfigureAwait(false);
        if (request is null)
        {
            return failure;
        }

        var grace = TimeSpan.FromSeconds(request.GraceSeconds.Value ?? 0);
        var force = request.Force.Value ?? false;
        var secret = NewSecret();
        return await ChangeAsync(context, id, caller, secret, (key, now) => key.RevokedAt is not null ? Revoked(key)
            : key.PreviousValidAt(now) && !force ? (null, "", InGrace(key))
            : (key with
        {
            KeySha256 = Convert.ToHexStringLower(BearerKey.HashOf(secret)),
            PreviousKeySha256 = grace > TimeSpan.Zero ? key.KeySha256 : null,
            PreviousValidUntil = grace > TimeSpan.Zero ? now + grace : null,
            RotatedAt = now,
            UpdatedAt = now,
        }, "rotate", null)).ConfigureAwait(false);
    }

    public async Task<ApiFailure?> RevokeAsync(HttpContext context, string id, string caller)
    {
        if (ReadOnly(id) is { } readOnly)
        {
            return readOnly;
        }

        // Revoking a revoked key changes nothing and writes no audit row: it answers the key as it is. A secret still in its
        // grace stays known, so that it too is told the key is revoked rather than that it is no key.
        return await ChangeAsync(context, id, caller, null, (key, now) => key.RevokedAt is not null
            ? (null, "", null)
            : (key with { RevokedAt = now, UpdatedAt = now }, "revoke", null))
            .ConfigureAwait(false);
    }

    private delegate (VirtualKey? Changed, string Action, string? Refusal) Edit(VirtualKey key, DateTimeOffset now);

    private async Task<ApiFailure?> ChangeAsync(HttpContext context, string id, string caller, string? secret, Edit edit)
    {
        if (!IsVirtualId(id))
        {
            return NotFound(id);
        }

        var commit = await store.ChangeAsync(id, (key, now) =>
        {
            var (changed, action, refusal) = edit(key, now);
            return (changed, action, changed is null ? "" : KeyChanges.Between(key, changed, now), refusal);
        }, caller, context.RequestAborted).ConfigureAwait(false);
        return commit.Outcome switch
        {
            KeyStore.CommitOutcome.Done => await DoneAsync(context, 200, commit.Key!, secret).ConfigureAwait(false),
            KeyStore.CommitOutcome.NotFound => NotFound(id),
            KeyStore.CommitOutcome.Unchanged => await DoneAsync(context, 200, commit.Key!, null).ConfigureAwait(false),
            KeyStore.CommitOutcome.Refused => ApiFailure.Rejected(409, commit.Key!.RevokedAt is null ? "rotation_in_grace" : "key_revoked", commit.Refusal!),
            _ => Busy,
        };
    }

    private async Task<ApiFailure?> DoneAsync(HttpContext context, int status, VirtualKey key, string? secret)
    {
        directory.ApplyHere(key);
        await JsonResponse.WriteAsync(context, status, json => KeyJson.Write(json, key, time.GetUtcNow(), secret)).ConfigureAwait(false);
        return null;
    }

    private static (VirtualKey?, string, string?) Revoked(VirtualKey key) =>
        (null, "", $"The key {key.Id} is revoked; a revoked key cannot change. Create a new key.");

    /// <summary>A second rotation would end the first one's grace early: clients still on the older secret would fail at once.</summary>
    private static string InGrace(VirtualKey key) => FormattableString.Invariant(
        $"The key {key.Id} was rotated at {key.RotatedAt:u} and its previous secret works until {key.PreviousValidUntil:u}; rotating again now ")
        + "would cut that grace short. Wait, or send \"force\": true.";

    /// <summary>The key with the fields the request sets.</summary>
    private static VirtualKey Apply(KeyRequest request, VirtualKey key) => key with
    {
        Models = request.Models.IsSet ? request.Models.Value! : key.Models,
        Budget = request.Budget.IsSet ? request.Budget.Value : key.Budget,
        Rpm = request.Rpm.IsSet ? request.Rpm.Value : key.Rpm,
        Tpm = request.Tpm.IsSet ? request.Tpm.Value : key.Tpm,
        ExpiresAt = request.ExpiresAt.IsSet ? request.ExpiresAt.Value : key.ExpiresAt,
        Metadata = request.Metadata.IsSet ? request.Metadata.Value! : key.Metadata,
    };

    private ApiFailure? ReadOnly(string id) => KeyJson.SettingsClientOf(settings.Value.Keys, id) is { } name
        ? ApiFailure.Rejected(409, "key_read_only", $"'{name}' is a client in app settings: change Clients__{name}__* there.")
        : null;

    private async Task<(KeyRequest? Request, ApiFailure? Failure)> ReadAsync(HttpContext context, string[] fields, bool emptyAllowed = false)
    {
        var body = await ReadBodyAsync(context.Request, context.RequestAborted).ConfigureAwait(false);
        if (body is null)
        {
            return (null, ApiFailure.Rejected(413, "request_too_large",
                $"The body is over {KeyRequest.MaxBodyBytes / 1024} KiB; a key's settings are far smaller."));
        }

        if (body.Length == 0 && emptyAllowed)
        {
            return (new KeyRequest(), null);
        }

        var (request, error) = KeyRequest.Parse(body, fields, time.GetUtcNow());
        return (request, request is null ? Invalid(error!) : null);
    }

    /// <summary>The body, or null when it is over <see cref="KeyRequest.MaxBodyBytes"/> (read no further than that).</summary>
    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > KeyRequest.MaxBodyBytes)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > KeyRequest.MaxBodyBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>A new secret: <c>sk-lf-</c> and 256 random bits, URL-safe.</summary>
    private static string NewSecret() => "sk-lf-" + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    private static ApiFailure Invalid(string message) => ApiFailure.Rejected(400, "invalid_key_request", message);

    private static ApiFailure NameTaken(string name, string by) =>
        ApiFailure.Rejected(409, "name_taken", $"The name '{name}' is taken by {by}; each key has a name of its own.");

    private static readonly ApiFailure Busy = ApiFailure.StorageDidNotAnswer("Other changes to the keys kept winning the race; try again.");

    [GeneratedRegex("^key_[0-9a-f]{24}$", RegexOptions.CultureInvariant)]
    private static partial Regex VirtualId();
}
