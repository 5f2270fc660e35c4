namespace Kraft.Broker.Replication;

/// <summary>Kafka error codes the replication state machines produce (Kafka's numeric values).</summary>
public enum ReplicationError : short
{
    None = 0,
    OffsetOutOfRange = 1,
    NotLeaderOrFollower = 6,
    RequestTimedOut = 7,
    NotEnoughReplicas = 19,
    NotEnoughReplicasAfterAppend = 20,
    OutOfOrderSequenceNumber = 45,
    InvalidProducerEpoch = 47,
    FencedLeaderEpoch = 74,
    UnknownLeaderEpoch = 75,
}

/// <summary>Settings of partition replication, with Kafka's names and defaults.</summary>
public sealed record ReplicationConfig
{
    /// <summary>replica.lag.time.max.ms: a follower that has not caught up for this long leaves the ISR.</summary>
    public long ReplicaLagTimeMaxMs { get; init; } = 30_000;

    /// <summary>min.insync.replicas: acks=all needs at least this many in-sync replicas.</summary>
    public int MinInSyncReplicas { get; init; } = 1;

    /// <summary>replica.high.watermark.checkpoint.interval.ms: how often a changed high watermark is written to disk.</summary>
    public long HighWatermarkCheckpointIntervalMs { get; init; } = 5_000;
}
