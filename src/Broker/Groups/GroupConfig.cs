namespace Kraft.Broker.Groups;

/// <summary>
/// The group coordinator's broker configs, with Kafka's property names (in the comments) and
/// defaults. Immutable; shared by all groups of a coordinator.
/// </summary>
public sealed record GroupConfig
{
    /// <summary>group.min.session.timeout.ms: the smallest session timeout a member may ask for.</summary>
    public int GroupMinSessionTimeoutMs { get; init; } = 6_000;

    /// <summary>group.max.session.timeout.ms: the largest session timeout a member may ask for.</summary>
    public int GroupMaxSessionTimeoutMs { get; init; } = 1_800_000;

    /// <summary>group.initial.rebalance.delay.ms: how long the first rebalance of an empty group waits for more members.</summary>
    public int GroupInitialRebalanceDelayMs { get; init; } = 3_000;

    /// <summary>group.max.size: the most members (joined or waiting for their member id) a group may have.</summary>
    public int GroupMaxSize { get; init; } = int.MaxValue;

    /// <summary>offset.metadata.max.bytes: the largest metadata string an offset commit may carry.</summary>
    public int OffsetMetadataMaxBytes { get; init; } = 4_096;

    /// <summary>offsets.retention.minutes: how long the offsets of an empty group (or a standalone commit) are kept.</summary>
    public long OffsetsRetentionMinutes { get; init; } = 10_080;

    /// <summary>offsets.retention.check.interval.ms: how often <see cref="GroupCoordinatorState.Tick"/> looks for expired offsets.</summary>
    public long OffsetsRetentionCheckIntervalMs { get; init; } = 600_000;

    public long OffsetsRetentionMs => OffsetsRetentionMinutes * 60_000L;

    public static GroupConfig Default { get; } = new();
}
