namespace Kraft.Storage.Log;

/// <summary>
/// Per-log settings, with Kafka's names and defaults (topic-level names in comments). Immutable.
/// </summary>
public sealed record LogConfig
{
    /// <summary>log.segment.bytes / segment.bytes: roll the active segment past this size.</summary>
    public long SegmentBytes { get; init; } = 1L << 30;

    /// <summary>log.roll.ms / segment.ms: roll the active segment after this age (7 days).</summary>
    public long SegmentMs { get; init; } = 7L * 24 * 3600 * 1000;

    /// <summary>log.index.interval.bytes / index.interval.bytes: bytes between sparse index entries.</summary>
    public int IndexIntervalBytes { get; init; } = 4096;

    /// <summary>log.retention.ms (log.retention.hours=168) / retention.ms; -1 keeps forever.</summary>
    public long RetentionMs { get; init; } = 168L * 3600 * 1000;

    /// <summary>log.retention.bytes / retention.bytes; -1 means no size limit.</summary>
    public long RetentionBytes { get; init; } = -1;

    /// <summary>log.flush.interval.messages / flush.messages: fsync after this many records.</summary>
    public long FlushIntervalMessages { get; init; } = long.MaxValue;

    /// <summary>log.flush.interval.ms / flush.ms: fsync when the oldest unflushed append is this old (checked by <see cref="SegmentedLog.MaybeFlush"/>).</summary>
    public long FlushIntervalMs { get; init; } = long.MaxValue;

    /// <summary>Fsync before an append returns (the Raft log; a per-topic option for partitions).</summary>
    public bool FsyncEveryAppend { get; init; }

    /// <summary>
    /// log.preallocate / preallocate: zero-fill the active segment ahead of its data (in chunks of
    /// <see cref="PreallocateChunkBytes"/>, at most a segment), so fsyncs find the file's blocks and length already
    /// on disk. Kafka's flag only sets the length (sparse on Linux); Kraft writes the zeros, which is what makes
    /// fsync-per-append logs fast (docs/storage.md). Worth it for logs fsynced often: the Raft log turns it on.
    /// </summary>
    public bool Preallocate { get; init; }

    /// <summary>How far ahead preallocation zero-fills (Kraft-specific).</summary>
    public int PreallocateChunkBytes { get; init; } = 4 << 20;

    /// <summary>max.message.bytes / message.max.bytes: the largest batch accepted (Kafka: 1048588).</summary>
    public int MaxMessageBytes { get; init; } = 1048588;

    /// <summary>
    /// Kraft: the value of the <c>log</c> label on this log's flush-latency metric (<see cref="StorageMetrics"/>):
    /// <see cref="StorageMetrics.PartitionLog"/> for partition logs, <see cref="StorageMetrics.MetadataLog"/> for the
    /// Raft log. Not a Kafka setting and not persisted.
    /// </summary>
    public string MetricsLogKind { get; init; } = StorageMetrics.PartitionLog;

    // --- Log compaction (see LogCleanerCore and SegmentedLog.Cleaning.cs) ---

    /// <summary>log.cleanup.policy / cleanup.policy contains "compact": the log cleaner keeps the latest record per key.</summary>
    public bool Compact { get; init; }

    /// <summary>log.cleanup.policy / cleanup.policy contains "delete": retention deletes old segments (Kafka's default policy).</summary>
    public bool DeleteByRetention { get; init; } = true;

    /// <summary>log.cleaner.min.cleanable.ratio / min.cleanable.dirty.ratio: clean when dirty bytes / cleanable bytes reach this.</summary>
    public double MinCleanableDirtyRatio { get; init; } = 0.5;

    /// <summary>log.cleaner.delete.retention.ms / delete.retention.ms: how long a tombstone outlives its key's data (1 day).</summary>
    public long DeleteRetentionMs { get; init; } = 24L * 3600 * 1000;

    /// <summary>Parses cleanup.policy ("delete", "compact", "compact,delete") into (Compact, DeleteByRetention).</summary>
    public static (bool Compact, bool Delete) ParseCleanupPolicy(string? policy)
    {
        if (string.IsNullOrWhiteSpace(policy))
        {
            return (false, true);
        }
        var parts = policy.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return (parts.Contains("compact", StringComparer.OrdinalIgnoreCase), parts.Contains("delete", StringComparer.OrdinalIgnoreCase));
    }

    public static LogConfig Default { get; } = new();
}
