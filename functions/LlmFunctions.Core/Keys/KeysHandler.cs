using System.Globalization;
using System.Text.Json;
using LlmFunctions.Core.Http;
using LlmFunctions.Core.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Keys;

/// <summary>
/// The admin API of virtual keys, outside <c>/v1</c> and for the admin key only (<c>Admin__KeySha256</c>):
/// <code>
/// POST   /keys                  create: 201 with the id and the secret, shown this once
/// GET    /keys, /keys/{id}      read: everything but the secret, the clients in app settings too (read-only)
/// PATCH  /keys/{id}             change models, budget, rpm, tpm, expiry, metadata
/// POST   /keys/{id}/rotate      a new secret; the old one works for grace_seconds more
/// DELETE /keys/{id}             revoke (the name stays taken)
/// GET    /keys/{id}/events      the audit, oldest first, in pages
/// </code>
/// Each change is committed with its audit row (<see cref="KeyStore"/>) and applied on this instance at once, on the
/// others within <c>Keys__RefreshSeconds</c> (<see cref="KeyDirectory"/>). Every refusal is a row of <see cref="ApiFailure"/>.
/// </summary>
internal sealed partial class KeysHandler(
    KeyStore store, KeyEditor editor, IOptions<AdminOptions> admin, IOptions<Dictionary<string, ClientOptions>> settings,
    TimeProvider time, ILogger<KeysHandler> logger)
{
    /// <summary>Who the audit names: the one admin key (its hash, never the key, in a short form that tells two apart).</summary>
    private readonly string _caller = admin.Value.KeySha256 is { Length: 64 } hash ? "admin-key:" + hash.Trim().ToLowerInvariant()[..8] : "";
    private readonly byte[]? _adminHash = admin.Value.KeyHash();

    /// <summary><c>/keys</c>: GET lists, POST creates.</summary>
    public Task KeysAsync(HttpContext context) => RunAsync(context, context.Request.Method switch
    {
        "GET" => ListAsync,
        "POST" => ctx => editor.CreateAsync(ctx, _caller),
        _ => null,
    });

    /// <summary><c>/keys/{id}</c>: GET reads, PATCH changes, DELETE revokes.</summary>
    public Task KeyAsync(HttpContext context, string id) => RunAsync(context, context.Request.Method switch
    {
        "GET" => ctx => GetAsync(ctx, id),
        "PATCH" => ctx => editor.PatchAsync(ctx, id, _caller),
        "DELETE" => ctx => editor.RevokeAsync(ctx, id, _caller),
        _ => null,
    });

    /// <summary><c>POST /keys/{id}/rotate</c>.</summary>
    public Task RotateAsync(HttpContext context, string id) =>
        RunAsync(context, context.Request.Method == "POST" ? ctx => editor.RotateAsync(ctx, id, _caller) : null);

    /// <summary><c>GET /keys/{id}/events</c>.</summary>
    public Task EventsAsync(HttpContext context, string id) => RunAsync(context, context.Request.Method == "GET" ? ctx => ReadEventsAsync(ctx, id) : null);

    private async Task<ApiFailure?> ListAsync(HttpContext context)
    {
        if (!TryLimit(context, out var limit, out var error) || context.Request.Query["after"] is { Count: > 1 })
        {
            return ApiFailure.BadQuery(error ?? "Give 'after' once.");
        }

        string? after = context.Request.Query["after"];
        if (after is not null && !KeyEditor.IsVirtualId(after))
        {
            return ApiFailure.BadQuery("'after' must be a key id (key_…) from a previous page's 'next'.");
        }

        var keys = await store.PageAsync(after, limit + 1, context.RequestAborted).ConfigureAwait(false);
        var now = time.GetUtcNow();
        await JsonResponse.WriteAsync(context, 200, json =>
        {
            json.WriteStartObject();
            json.WriteString("object", "list");
            json.WriteStartArray("data");
            if (after is null)
            {
                foreach (var (name, client) in settings.Value.OrderBy(c => c.Key, StringComparer.Ordinal))
                {
                    KeyJson.WriteSettingsClient(json, name, client);
                }
            }

            foreach (var key in keys.Take(limit))
            {
                KeyJson.Write(json, key, now);
            }

            json.WriteEndArray();
            json.WriteBoolean("has_more", keys.Count > limit);
            json.WriteString("next", keys.Count > limit ? keys[limit - 1].Id : null);
            json.WriteEndObject();
        }).ConfigureAwait(false);
        return null;
    }

    private async Task<ApiFailure?> GetAsync(HttpContext context, string id)
    {
        if (KeyJson.SettingsClientOf(settings.Value.Keys, id) is { } name)
        {
            await JsonResponse.WriteAsync(context, 200, json => KeyJson.WriteSettingsClient(json, name, settings.Value[name])).ConfigureAwait(false);
            return null;
        }

        if (!KeyEditor.IsVirtualId(id) || await store.GetAsync(id, context.RequestAborted).ConfigureAwait(false) is not { } key)
        {
            return KeyEditor.NotFound(id);
        }

        await JsonResponse.WriteAsync(context, 200, json => KeyJson.Write(json, key, time.GetUtcNow())).ConfigureAwait(false);
        return null;
    }

    private async Task<ApiFailure?> ReadEventsAsync(HttpContext context, string id)
    {
        if (!TryLimit(context, out var limit, out var error))
        {
            return ApiFailure.BadQuery(error!);
        }

        long afterSeq = 0;
        if (context.Request.Query["after"] is { Count: > 0 } after
            && (after.Count > 1 || !long.TryParse(after[0], NumberStyles.None, CultureInfo.InvariantCulture, out afterSeq)))
        {
            return ApiFailure.BadQuery("'after' must be the 'next' of a previous page (a whole number).");
        }

        if (!KeyEditor.IsVirtualId(id) || await store.GetAsync(id, context.RequestAborted).ConfigureAwait(false) is null)
        {
            return KeyEditor.NotFound(id);
        }

        var events = await store.EventsAsync(id, afterSeq, limit + 1, context.RequestAborted).ConfigureAwait(false);
        await JsonResponse.WriteAsync(context, 200, json =>
        {
            json.WriteStartObject();
            json.WriteString("object", "list");
            json.WriteStartArray("data");
            foreach (var e in events.Take(limit))
            {
                KeyJson.WriteEvent(json, e);
            }

            json.WriteEndArray();
            json.WriteBoolean("has_more", events.Count > limit);
            json.WriteString("next", events.Count > limit ? events[limit - 1].Seq.ToString(CultureInfo.InvariantCulture) : null);
            json.WriteEndObject();
        }).ConfigureAwait(false);
        return null;
    }

    /// <summary>The page size: <c>limit</c>, 1 to 100, default 20.</summary>
    private static bool TryLimit(HttpContext context, out int limit, out string? error)
    {
        limit = 20;
        error = null;
        var query = context.Request.Query;
        if (query.Keys.Any(k => k is not ("limit" or "after")))
        {
            error = "This endpoint takes only 'limit' (1 to 100) and 'after' (a previous page's 'next').";
            return false;
        }

        if (query["limit"] is { Count: > 0 } given
            && (given.Count > 1 || !int.TryParse(given[0], NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 100))
        {
            error = "'limit' must be a whole number from 1 to 100.";
            return false;
        }

        return true;
    }

    private async Task RunAsync(HttpContext context, Func<HttpContext, Task<ApiFailure?>>? handle)
    {
        context.Response.Headers.CacheControl = "no-store";
        ApiFailure? failure;
        if (_adminHash is null)
        {
            failure = NoAdminKey;
        }
        else if (!BearerKey.Matches(context.Request.Headers.Authorization, _adminHash))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            failure = NotAdmin;
        }
        else if (handle is null)
        {
            failure = ApiFailure.Rejected(405, "method_not_allowed", $"{Text.Truncate(context.Request.Method)} is not a method of {context.Request.Path}.");
        }
        else
        {
            failure = await HandleAsync(context, handle).ConfigureAwait(false);
        }

        if (failure is not null)
        {
            await failure.WriteAsync(context).ConfigureAwait(false);
        }
    }

    private async Task<ApiFailure?> HandleAsync(HttpContext context, Func<HttpContext, Task<ApiFailure?>> handle)
    {
        try
        {
            return await handle(context).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is Azure.RequestFailedException or TaskCanceledException or HttpRequestException
            && !context.RequestAborted.IsCancellationRequested)
        {
            LogStorageFailed(logger, ex.GetType().Name, (ex as Azure.RequestFailedException)?.Status ?? 0);
            return ApiFailure.StorageDidNotAnswer("Storage did not answer in time; the change may not have been made. Read the key and try again.");
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted)
        {
            LogUnexpected(logger, ex);
            return ApiFailure.ReportFailed("The request failed; the error is in the proxy's log.");
        }
    }

    private static readonly ApiFailure NoAdminKey = ApiFailure.PermissionDenied(
        "The admin API is off: set Admin__KeySha256 (the SHA-256 of an admin key, 64 hex characters) to use it.");

    private static readonly ApiFailure NotAdmin = ApiFailure.InvalidKey("The admin API takes the admin key only: send 'Authorization: Bearer <admin key>'.");

    [LoggerMessage(EventId = 9211, Level = LogLevel.Warning, Message = "Admin key request failed: storage did not answer ({Error}, status {Status}).")]
    private static partial void LogStorageFailed(ILogger logger, string error, int status);

    [LoggerMessage(EventId = 9212, Level = LogLevel.Error, Message = "Admin key request failed unexpectedly.")]
    private static partial void LogUnexpected(ILogger logger, Exception ex);
}
