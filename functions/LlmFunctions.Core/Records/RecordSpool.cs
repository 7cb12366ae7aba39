using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Records;

/// <summary>
/// Records that storage refused, kept on local disk until it is back, in a folder of the store they belong to
/// (<see cref="StoreFolder"/>). One file per spooled batch, written to
/// a temporary name, fsync'd, then renamed, so a file is either whole or absent. A replaying host holds an
/// exclusive lock on the file, so two hosts sharing the folder never replay the same batch twice.
/// </summary>
internal sealed class RecordSpool
{
    private readonly string _directory;

    public RecordSpool(IOptions<StorageOptions> options)
    {
        Root = string.IsNullOrWhiteSpace(options.Value.SpoolDirectory)
            ? Path.Combine(Path.GetTempPath(), "llm-spool")
            : options.Value.SpoolDirectory;

        // One folder per store: two deployments sharing a machine (or a folder) never replay each other's records
        // into the wrong account.
        _directory = Path.Combine(Root, StoreFolder(options.Value));
    }

    /// <summary>The configured folder; this store's files are in <see cref="Directory"/> under it.</summary>
    public string Root { get; }

    /// <summary>
    /// A folder name for the store records go to: <c>store-</c> and 16 hex digits of the SHA-256 of its table endpoint
    /// (which names the account), read from the settings without touching the network.
    /// </summary>
    internal static string StoreFolder(StorageOptions options)
    {
        var endpoint = !string.IsNullOrWhiteSpace(options.TableServiceUri)
            ? new Uri(options.TableServiceUri).AbsoluteUri
            : new Azure.Data.Tables.TableServiceClient(options.ConnectionString).Uri.AbsoluteUri;
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(endpoint.TrimEnd('/').ToLowerInvariant()));
        return "store-" + Convert.ToHexStringLower(hash.AsSpan(0, 8));
    }

    public string Directory => _directory;

    /// <summary>Records currently spooled (approximate: files × records, read from the names).</summary>
    public int Backlog
    {
        get
        {
            if (!System.IO.Directory.Exists(_directory))
            {
                return 0;
            }

            var total = 0;
            foreach (var file in System.IO.Directory.EnumerateFiles(_directory, "*.spool"))
            {
                // Name: <ticks>-<guid>-<count>.spool
                var name = Path.GetFileNameWithoutExtension(file);
                var dash = name.LastIndexOf('-');
                if (dash > 0 && int.TryParse(name.AsSpan(dash + 1), out var n))
                {
                    total += n;
                }
            }

            return total;
        }
    }

    /// <summary>Where spool files that cannot be replayed are set aside, for someone to look at.</summary>
    public string QuarantineDirectory => Path.Combine(_directory, "quarantine");

    /// <summary>Spool files set aside because they could not be replayed (<see cref="Quarantine"/>).</summary>
    public int Quarantined => System.IO.Directory.Exists(QuarantineDirectory) ? System.IO.Directory.EnumerateFiles(QuarantineDirectory).Count() : 0;

    /// <summary>Moves a spool file that cannot be replayed out of the replay's way, keeping it for inspection.</summary>
    public void Quarantine(string file)
    {
        System.IO.Directory.CreateDirectory(QuarantineDirectory);
        File.Move(file, Path.Combine(QuarantineDirectory, Path.GetFileName(file)), overwrite: true);
    }

    public Task AppendAsync(IReadOnlyList<SpooledRecord> records, CancellationToken cancellationToken) =>
        WriteBatchAsync(NewFileName(), records, whileLocked: null, cancellationToken);

    /// <summary>A unique file name (no extension) that sorts by creation time: spool batches and journal segments.</summary>
    internal static string NewFileName() => $"{DateTime.UtcNow.Ticks:D19}-{Guid.NewGuid():N}";

    /// <summary>
    /// Writes a batch as <c>&lt;name&gt;-&lt;count&gt;.spool</c>: to a temporary name, fsync'd, then renamed, so the file is
    /// either whole or absent. It stays locked until <paramref name="whileLocked"/> has run, so the replay loop cannot
    /// take it before then.
    /// </summary>
    public async Task WriteBatchAsync(string name, IReadOnlyList<SpooledRecord> records, Action? whileLocked, CancellationToken cancellationToken)
    {
        System.IO.Directory.CreateDirectory(_directory);
        var path = Path.Combine(_directory, $"{name}-{records.Count}.spool");
        var temp = path + ".tmp";
        var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous);
        try
        {
            await JsonSerializer.SerializeAsync(stream, records, SpoolJsonContext.Default.IReadOnlyListSpooledRecord, cancellationToken).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
            if (whileLocked is null)
            {
                // Nothing to do under the lock: close before the rename, which Windows refuses on an open file.
                await stream.DisposeAsync().ConfigureAwait(false);
            }

            File.Move(temp, path);
            whileLocked?.Invoke();
        }
        finally
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Whether a batch written under this name (<see cref="WriteBatchAsync"/>) is in the folder.</summary>
    public bool HasBatch(string name) => System.IO.Directory.Exists(_directory) && System.IO.Directory.EnumerateFiles(_directory, name + "-*.spool").Any();

    public IEnumerable<string> Files() => System.IO.Directory.Exists(_directory)
        ? System.IO.Directory.EnumerateFiles(_directory, "*.spool").Order(StringComparer.Ordinal)
        : [];

    /// <summary>Opens a spool file exclusively, or returns null when another host holds it or it is gone.</summary>
    public static FileStream? TryLock(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 4096, FileOptions.Asynchronous);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static async Task<List<SpooledRecord>> ReadAsync(FileStream stream, CancellationToken cancellationToken)
    {
        stream.Position = 0;
        return await JsonSerializer.DeserializeAsync(stream, SpoolJsonContext.Default.ListSpooledRecord, cancellationToken).ConfigureAwait(false) ?? [];
    }

    /// <summary>Rewrites a locked spool file in place (the attempted keys grew) and fsyncs it.</summary>
    public static async Task RewriteAsync(FileStream stream, List<SpooledRecord> records, CancellationToken cancellationToken)
    {
        stream.SetLength(0);
        await JsonSerializer.SerializeAsync(stream, records, SpoolJsonContext.Default.ListSpooledRecord, cancellationToken).ConfigureAwait(false);
        stream.Flush(flushToDisk: true);
    }
}

/// <summary>
/// A spooled record and every PartitionKey a write of it was attempted under. The record is the <see cref="CallRecord"/>
/// itself, as JSON under its property names: files written with the copy this replaced (CallRecordData, the same names)
/// read back the same, and a property they lack keeps the record's default.
/// </summary>
internal sealed class SpooledRecord
{
    public required CallRecord Record { get; init; }

    public List<string> AttemptedPartitionKeys { get; init; } = [];
}

[JsonSerializable(typeof(SpooledRecord))]
[JsonSerializable(typeof(IReadOnlyList<SpooledRecord>))]
[JsonSerializable(typeof(List<SpooledRecord>))]
internal sealed partial class SpoolJsonContext : JsonSerializerContext;
