using Azure;

namespace LlmFunctions.Core.Records;

/// <summary>
/// What a failed storage request says, classified once for the writer and the replayer. Table Storage throttles with
/// 503 <c>ServerBusy</c> and times out with 500 <c>OperationTimedOut</c> (sometimes after committing) under partition or
/// account pressure: worth a retry after a back-off, and no sign that storage is gone. A refusal (400, 413) is the
/// request's own fault. Only a request that never got an answer says storage is unreachable.
/// </summary>
internal static class StorageFailure
{
    /// <summary>Storage answered "not now": back off and try again.</summary>
    public static bool IsThrottled(Exception ex) => ex is RequestFailedException { Status: 429 or 500 or 503 };

    /// <summary>No answer at all (connection refused or reset, the network timeout): storage may be down.</summary>
    public static bool IsUnreachable(Exception ex) =>
        ex is HttpRequestException or TaskCanceledException or IOException or AggregateException or RequestFailedException { Status: 0 };

    /// <summary>Storage refused the request for what it holds (too large, a character it does not take): a retry fails alike.</summary>
    public static bool IsRefusal(Exception ex) => ex is RequestFailedException { Status: 400 or 413 };

    /// <summary>Any failure of storage rather than of our code.</summary>
    public static bool Any(Exception ex) => ex is RequestFailedException || IsUnreachable(ex);
}
