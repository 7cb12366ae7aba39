using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>Every log record a host writes (a <see cref="FakeLogCollector"/>), as text tests search, e.g. for leaked keys.</summary>
internal sealed class CapturedLogs
{
    public CapturedLogs() => Provider = new FakeLoggerProvider(Collector);

    public FakeLogCollector Collector { get; } = new();

    /// <summary>Add this to a host's logging.</summary>
    public ILoggerProvider Provider { get; }

    /// <summary>One line per record: level, category, event id, message, structured values and exception.</summary>
    public IEnumerable<string> Lines => Collector.GetSnapshot().Select(r =>
        $"{r.Level} {r.Category}[{r.Id.Id}] {r.Message} {string.Join(' ', (r.StructuredState ?? []).Select(kv => $"{kv.Key}={kv.Value}"))} {r.Exception}");

    public string All => string.Join('\n', Lines);
}
