using Azure.Core;
using Azure.Core.Pipeline;

namespace LlmFunctions.Core.Records;

/// <summary>
/// Counts the requests this instance sends to Table Storage (each one a billed transaction on Azure): reads and
/// writes since start, for <c>/health</c> and the benchmarks' transactions per call, and the requests made inside a
/// <see cref="BeginScope"/>, which a scrape reports as its own cost.
/// </summary>
internal sealed class StorageRequestCounter : HttpPipelineSynchronousPolicy
{
    private static readonly AsyncLocal<Scope?> Current = new();
    private long _reads;
    private long _writes;

    public long Reads => Interlocked.Read(ref _reads);

    public long Writes => Interlocked.Read(ref _writes);

    /// <summary>Counts the requests sent from this async flow until the scope is disposed.</summary>
    public static Scope BeginScope() => Current.Value = new Scope();

    public override void OnSendingRequest(HttpMessage message) => Count(write: message.Request.Method != RequestMethod.Get);

    /// <summary>Counts one request (the pipeline's, or a storage seam's that has no HTTP pipeline).</summary>
    public void Count(bool write)
    {
        Interlocked.Increment(ref write ? ref _writes : ref _reads);
        if (Current.Value is { } scope)
        {
            Interlocked.Increment(ref scope.Requests);
        }
    }

    internal sealed class Scope : IDisposable
    {
        internal int Requests;

        public void Dispose() => Current.Value = null;
    }
}
