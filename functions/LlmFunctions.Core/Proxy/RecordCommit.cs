using LlmFunctions.Core.Http;
using LlmFunctions.Core.Records;

namespace LlmFunctions.Core.Proxy;

/// <summary>
/// When a call's record is written. By default once the client has its answer (the handler's last step). With
/// <c>Storage__LocalDiskIsDurable=false</c> (Azure Functions: an instance takes its temp disk with it), before the
/// answer's last bytes: no answer completes whose record the table has not taken.
/// </summary>
/// <param name="write">Writes the record and tells where it is; called once.</param>
/// <param name="beforeAnswerEnds">Write before the answer ends, and end it only if the table took the record.</param>
internal sealed class RecordCommit(Func<Task<RecordLocation>> write, bool beforeAnswerEnds)
{
    private Task<RecordLocation>? _written;

    /// <summary>The record has been written (or is being written): the call's outcome can no longer change it.</summary>
    public bool Started => _written is not null;

    /// <summary>
    /// Called by a relay once the call is billed, right before the answer's last bytes (the body of a buffered answer,
    /// a stream's <c>[DONE]</c>, a large body's end): true when the answer may end.
    /// </summary>
    public async ValueTask<bool> MayEndAnswerAsync()
    {
        if (!beforeAnswerEnds)
        {
            return true;
        }

        return await WriteAsync().ConfigureAwait(false) == RecordLocation.Table;
    }

    /// <summary>
    /// <see cref="MayEndAnswerAsync"/> as a relay's result: null when the answer may end, else the failure the client gets
    /// instead of its last bytes (503 <c>storage_unavailable</c>).
    /// </summary>
    public async ValueTask<ApiFailure?> EndAnswerAsync() =>
        await MayEndAnswerAsync().ConfigureAwait(false) ? null : ApiFailure.StorageUnavailable;

    /// <summary>Writes the record, unless a relay already did.</summary>
    public Task<RecordLocation> WriteAsync() => _written ??= write();
}
