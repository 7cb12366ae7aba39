using System.Text.Json;
using LlmFunctions.Core.Records;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Core.Hosting;

/// <summary><c>GET /health</c>: no auth; 200 when storage answers, 503 when it does not.</summary>
internal sealed class HealthHandler(TableStore store, RecordSpool spool, RecordWriter writer, InFlightCalls inFlight)
{
    public async Task HandleAsync(HttpContext context)
    {
        var reachable = await store.IsReachableAsync(context.RequestAborted).ConfigureAwait(false);
        context.Response.StatusCode = reachable ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        await using var json = new Utf8JsonWriter(context.Response.Body);
        json.WriteStartObject();
        json.WriteString("status", reachable ? "healthy" : "unhealthy");
        json.WriteBoolean("storage", reachable);
        json.WriteNumber("spoolBacklog", spool.Backlog);

        // Calls being handled and records not yet settled (queued or in a commit): both 0 means every call so far has a
        // durable record (table, spool or journal), which a test or a drain before maintenance can wait for.
        json.WriteNumber("callsInFlight", inFlight.Count);
        json.WriteNumber("recordsPending", writer.Pending);

        // Spool files set aside because they could not be replayed, and records storage refused whole (stored cut
        // down) or even cut down (lost): each is also a Warning or Error in the log. Non-zero asks for a look.
        json.WriteNumber("spoolQuarantined", spool.Quarantined);
        json.WriteNumber("recordsShrunk", store.ShrunkRecords);
        json.WriteNumber("recordsLost", store.RecordsLostToRefusal);

        // This instance's storage requests since it started (each a billed transaction on Azure).
        json.WriteNumber("storageReads", store.Requests.Reads);
        json.WriteNumber("storageWrites", store.Requests.Writes);
        json.WriteEndObject();
        await json.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }
}
