using System.Diagnostics.Metrics;

namespace Kraft.Storage;

/// <summary>
/// The storage engine's instruments, in meter "Kraft.Storage" (one meter per project, STYLE.md). Kraft.Storage has no
/// dependency on the broker: whoever wants the numbers listens to this meter (the broker's Prometheus exporter does).
/// <para>The meter is process-wide and carries no node id, because a log does not know which node owns it: when
/// several nodes run in one process (in-process tests), their storage series add up. A deployed node runs alone in
/// its process, so its series are its own.</para>
/// Thread-safety: instruments are thread-safe; recording happens under the log's own lock.
/// </summary>
public static class StorageMetrics
{
    /// <summary>The <c>log</c> label of partition logs.</summary>
    public const string PartitionLog = "partition";

    /// <summary>The <c>log</c> label of the Raft metadata log.</summary>
    public const string MetadataLog = "metadata";

    public static readonly Meter Meter = new("Kraft.Storage");

    /// <summary>
    /// Kafka: kafka.log:type=LogFlushStats,name=LogFlushRateAndTimeMs. Time of each fsync of a segment that held
    /// unsynced appends (explicit flushes, flush.messages/flush.ms, segment rolls, close), by log kind. Buckets
    /// from 50 µs (a cached or battery-backed disk) to 10 s (a stalled one).
    /// </summary>
    public static readonly Histogram<double> FlushLatency = Meter.CreateHistogram<double>(
        "kraft.storage.flush.latency",
        "ms",
        "Time to fsync a log segment with unsynced appends, by log kind (metadata or partition)",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000] });

    /// <summary>Records one fsync of <paramref name="logKind"/> that took <paramref name="elapsed"/>.</summary>
    public static void RecordFlush(string logKind, TimeSpan elapsed) =>
        FlushLatency.Record(elapsed.TotalMilliseconds, new KeyValuePair<string, object?>("log", logKind));
}
