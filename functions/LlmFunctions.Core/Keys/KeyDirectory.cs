using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmFunctions.Core.Keys;

/// <summary>
/// This instance's copy of the virtual keys, looked up by the SHA-256 of a bearer key in one dictionary read whatever
/// the number of keys. Loaded once at start, in the background (start-up does not wait on it: a virtual key's first call
/// does, briefly), then kept current by reading the change log after the last change seen every
/// <c>Keys__RefreshSeconds</c>: one range query, empty when nothing changed. A change made on any instance takes effect
/// here within that interval plus a storage round trip. A gap in the log's numbers (a change not yet visible, or one
/// this instance slept through) reloads everything. When storage cannot be read the keys last read stay in force.
/// </summary>
internal sealed partial class KeyDirectory(KeyStore store, IOptions<KeysOptions> options, TimeProvider time, ILogger<KeyDirectory> logger)
    : IHostedService, IDisposable
{
    private readonly ConcurrentDictionary<string, VirtualKey> _byId = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<KeyHash, string> _byHash = new();
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _applying = new();
    private readonly SemaphoreSlim _reading = new(1, 1);
    private Task _refreshing = Task.CompletedTask;
    private (Task? Read, long PlannedAt) _onDemand;
    private long _seq = -1;
    private long _version;

    /// <summary>The number of the last change applied here (−1 before the first load).</summary>
    public long Seq => Interlocked.Read(ref _seq);

    /// <summary>Grows whenever a key changes here: readers that derive something from the keys (budgets) rebuild on a new value.</summary>
    public long Version => Interlocked.Read(ref _version);

    public bool IsLoaded => _loaded.Task.IsCompleted;

    public int Count => _byId.Count;

    public IEnumerable<VirtualKey> Keys => _byId.Values;

    public VirtualKey? ById(string id) => _byId.TryGetValue(id, out var key) ? key : null;

    /// <summary>
    /// The key one of whose secrets has this SHA-256, and whether it is its current secret (else the one a rotation
    /// replaced); or null.
    /// </summary>
    public (VirtualKey Key, bool Current)? Find(ReadOnlySpan<byte> sha256)
    {
        var hash = KeyHash.From(sha256);
        if (!_byHash.TryGetValue(hash, out var id) || !_byId.TryGetValue(id, out var key))
        {
            return null;
        }

        // The index may lag a change by a moment: the key itself says whether the hash is still one of its own.
        return KeyHash.FromHex(key.KeySha256) == hash ? (key, true)
            : key.PreviousKeySha256 is { } previous && KeyHash.FromHex(previous) == hash ? (key, false)
            : null;
    }

    /// <summary>
    /// Reads the changes now, for a key this instance does not know: a key created or rotated on another instance a moment
    /// ago works here at once, not only after the next scheduled read. The read waited for starts after the caller
    /// arrived, so it sees every change committed before that. Callers share reads: one planned after they arrived is
    /// joined, else one is planned at least <see cref="OnDemandSpacing"/> after the last, so keys that exist nowhere cost
    /// storage five small queries a second at most, however many are sent. False when no read finished within
    /// <paramref name="timeout"/>.
    /// </summary>
    public async Task<bool> RefreshNowAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var arrived = time.GetTimestamp();
        Task read;
        lock (_applying)
        {
            var (last, planned) = _onDemand;
            if (last is null || planned < arrived)
            {
                var at = last is null ? arrived : Math.Max(arrived, planned + (long)(OnDemandSpacing.TotalSeconds * time.TimestampFrequency));
                last = ReadAtAsync(last, at);
                _onDemand = (last, at);
            }

            read = last;
        }

        try
        {
            await read.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception)
        {
            return false; // a read that failed or is slow, or a caller that left: it judges with what it has
        }
    }

    /// <summary>A read of the changes that starts at timestamp <paramref name="at"/>, after <paramref name="previous"/> ends.</summary>
    private async Task ReadAtAsync(Task? previous, long at)
    {
        await Task.Yield();
        if (previous is not null)
        {
            await previous.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).ConfigureAwait(false);
        }

        var wait = time.GetElapsedTime(time.GetTimestamp(), at);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, time, _stopping.Token).ConfigureAwait(false);
        }

        await RefreshAsync(_stopping.Token).ConfigureAwait(false);
    }

    internal static readonly TimeSpan OnDemandSpacing = TimeSpan.FromMilliseconds(200);

    /// <summary>Waits (at most <paramref name="timeout"/>) for the first load; false when it has not finished by then.</summary>
    public async Task<bool> WaitLoadedAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await _loaded.Task.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _refreshing = Task.Run(() => RefreshLoopAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _refreshing.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _stopping.Dispose();
        _reading.Dispose();
    }

    /// <summary>Reads what changed since the last read (or everything, the first time or after a gap), once; one read at a time.</summary>
    internal async Task RefreshAsync(CancellationToken cancellationToken)
    {
        await _reading.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var seq = Seq;
            if (seq < 0)
            {
                await LoadAsync(cancellationToken).ConfigureAwait(false);
                return;
            }

            var changes = await store.ChangesAfterAsync(seq, cancellationToken).ConfigureAwait(false);
            if (changes.Count == 0)
            {
                return;
            }

            if (changes.Where((c, i) => c.Seq != seq + 1 + i).Any())
            {
                await LoadAsync(cancellationToken).ConfigureAwait(false); // a missed number: read everything again
                return;
            }

            Apply(changes, changes[^1].Seq);
        }
        finally
        {
            _reading.Release();
        }
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var (seq, keys) = await store.LoadAsync(cancellationToken).ConfigureAwait(false);
        Load(keys, seq);
        LogLoaded(logger, keys.Count, seq, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>Every key as of change <paramref name="seq"/>: the first read (or a read again after a gap).</summary>
    internal void Load(IEnumerable<VirtualKey> keys, long seq)
    {
        Apply(keys, seq);
        _loaded.TrySetResult();
    }

    /// <summary>Takes each key's newest value (a value older than the one held is ignored) and moves on to change <paramref name="seq"/>.</summary>
    internal void Apply(IEnumerable<VirtualKey> keys, long seq)
    {
        lock (_applying)
        {
            foreach (var key in keys)
            {
                if (_byId.TryGetValue(key.Id, out var held) && held.Seq >= key.Seq)
                {
                    continue;
                }

                _byId[key.Id] = key;
                _byHash[KeyHash.FromHex(key.KeySha256)] = key.Id;
                if (key.PreviousKeySha256 is { } previous)
                {
                    _byHash[KeyHash.FromHex(previous)] = key.Id;
                }

                if (held is not null && held.PreviousKeySha256 is { } dropped && dropped != key.PreviousKeySha256 && dropped != key.KeySha256)
                {
                    _byHash.TryRemove(KeyHash.FromHex(dropped), out _); // a secret two rotations old
                }
            }

            Interlocked.Exchange(ref _seq, Math.Max(seq, Seq));
            Interlocked.Increment(ref _version);
        }
    }

    /// <summary>
    /// A change this instance just committed, in force here at once. The change number stays: the changes before it that
    /// this instance has not read yet are still to be read, and this one is skipped when read again.
    /// </summary>
    public void ApplyHere(VirtualKey key) => Apply([key], Seq);

    private async Task RefreshLoopAsync(CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromSeconds(options.Value.RefreshSeconds);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await RefreshAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                return; // stopping: a read cut short is no failure
            }
            catch (Exception ex)
            {
                LogRefreshFailed(logger, ex.GetType().Name, Count);
            }

            try
            {
                await Task.Delay(IsLoaded ? interval : TimeSpan.FromSeconds(1), time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(EventId = 9201, Level = LogLevel.Information, Message = "Read {Count} virtual keys (up to change {Seq}) in {Ms:0} ms.")]
    private static partial void LogLoaded(ILogger logger, int count, long seq, double ms);

    [LoggerMessage(EventId = 9202, Level = LogLevel.Warning,
        Message = "Could not read the virtual keys' changes ({Error}); the {Count} keys read before stay in force until the next read.")]
    private static partial void LogRefreshFailed(ILogger logger, string error, int count);
}
