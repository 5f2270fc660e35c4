namespace Kraft.Storage.Log;

/// <summary>
/// The log cleaner's driver (Kafka's LogCleaner thread): a dedicated background thread that, pass after pass,
/// picks the compacted log with the highest dirty ratio at or above its min.cleanable.dirty.ratio and runs one
/// bounded <see cref="SegmentedLog.Clean"/> on it; when no log qualifies it sleeps log.cleaner.backoff.ms.
/// <para>The broker supplies the candidates (each log with the offset cleaning must stay below: the partition's
/// high watermark). Work per pass is bounded by the offset map capacity (log.cleaner.dedupe.buffer.size / 24
/// bytes per entry, as Kafka sizes its map), so a huge dirty section is cleaned over several passes.</para>
/// <para>Thread: everything but <see cref="Start"/>, <see cref="Wake"/> and <see cref="Dispose"/> runs on the
/// cleaner thread. A failing log is reported and skipped until its next pass; it never stops the thread.</para>
/// </summary>
public sealed class LogCleaner : IDisposable
{
    private readonly Func<IEnumerable<CleanerCandidate>> _candidates;
    private readonly LogCleanerConfig _config;
    private readonly Action<string, Exception>? _onError;
    private readonly CancellationTokenSource _stop = new();
    private readonly AutoResetEvent _wake = new(false);
    private Thread? _thread;
    private long _passes;
    private long _recordsRemoved;
    private long _bytesReclaimed;

    public LogCleaner(Func<IEnumerable<CleanerCandidate>> candidates, LogCleanerConfig config, Action<string, Exception>? onError = null)
    {
        _candidates = candidates;
        _config = config;
        _onError = onError;
    }

    /// <summary>Completed cleaning passes (for metrics and tests).</summary>
    public long Passes => Interlocked.Read(ref _passes);

    public long RecordsRemoved => Interlocked.Read(ref _recordsRemoved);

    public long BytesReclaimed => Interlocked.Read(ref _bytesReclaimed);

    public void Start()
    {
        if (!_config.Enable)
        {
            return;
        }
        _thread = new Thread(Run) { IsBackground = true, Name = "kraft-log-cleaner" };
        _thread.Start();
    }

    /// <summary>Asks the thread to look for work now instead of at the end of its back-off.</summary>
    public void Wake() => _wake.Set();

    /// <summary>One pass: cleans the dirtiest qualifying log. Returns false when no log qualified.</summary>
    public bool RunOnePass()
    {
        CleanerCandidate? best = null;
        double bestRatio = -1;
        foreach (var candidate in _candidates())
        {
            if (!candidate.Log.Config.Compact)
            {
                continue;
            }
            try
            {
                var stats = candidate.Log.CleanableStats(candidate.UpperBoundOffset);
                if (stats.DirtyBytes > 0 && stats.DirtyRatio >= candidate.Log.Config.MinCleanableDirtyRatio && stats.DirtyRatio > bestRatio)
                {
                    best = candidate;
                    bestRatio = stats.DirtyRatio;
                }
            }
            catch (ObjectDisposedException)
            {
                // The partition went away between listing and looking.
            }
        }
        if (best is null)
        {
            return false;
        }
        var result = best.Value.Log.Clean(best.Value.UpperBoundOffset, _config.MapCapacity);
        Interlocked.Increment(ref _passes);
        Interlocked.Add(ref _recordsRemoved, result.RecordsRemoved);
        Interlocked.Add(ref _bytesReclaimed, result.BytesBefore - result.BytesAfter);
        return result.Ran;
    }

    private void Run()
    {
        while (!_stop.IsCancellationRequested)
        {
            bool worked = false;
            try
            {
                worked = RunOnePass();
            }
            catch (Exception e) when (e is StorageException or IOException or ObjectDisposedException or UnauthorizedAccessException)
            {
                _onError?.Invoke("log cleaning pass failed", e);
            }
            if (!worked)
            {
                WaitHandle.WaitAny([_wake, _stop.Token.WaitHandle], TimeSpan.FromMilliseconds(_config.BackoffMs));
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread?.Join();
        _stop.Dispose();
        _wake.Dispose();
    }
}

/// <summary>A log the cleaner may clean, and the offset (the high watermark) cleaning must stay below.</summary>
public readonly record struct CleanerCandidate(SegmentedLog Log, long UpperBoundOffset);

/// <summary>Broker-wide cleaner settings, with Kafka's names. Immutable.</summary>
public sealed record LogCleanerConfig
{
    /// <summary>log.cleaner.enable: run the cleaner thread at all.</summary>
    public bool Enable { get; init; } = true;

    /// <summary>log.cleaner.backoff.ms: sleep between passes when no log needs cleaning.</summary>
    public long BackoffMs { get; init; } = 15_000;

    /// <summary>log.cleaner.dedupe.buffer.size: memory for the offset map; Kafka counts 24 bytes per entry.</summary>
    public long DedupeBufferSize { get; init; } = 128L * 1024 * 1024;

    /// <summary>Distinct keys one pass may map (bounds the work of a pass).</summary>
    public int MapCapacity => (int)Math.Clamp(DedupeBufferSize / 24, 1, int.MaxValue);
}
