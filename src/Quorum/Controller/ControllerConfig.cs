namespace Kraft.Quorum.Controller;

/// <summary>
/// The controller's static settings, with Kafka's names and defaults (docs/controller.md lists them).
/// <see cref="StaticBrokerConfigs"/> holds broker settings from server.properties that DescribeConfigs reports
/// with source STATIC_BROKER_CONFIG (e.g. "log.retention.ms"). Immutable.
/// </summary>
public sealed record ControllerConfig
{
    /// <summary>broker.session.timeout.ms: a broker without a heartbeat for longer than this is fenced.</summary>
    public long BrokerSessionTimeoutMs { get; init; } = 9000;

    /// <summary>num.partitions: partitions of a topic created without a count.</summary>
    public int DefaultNumPartitions { get; init; } = 1;

    /// <summary>default.replication.factor: replication factor of a topic created without one.</summary>
    public short DefaultReplicationFactor { get; init; } = 1;

    /// <summary>unclean.leader.election.enable (static, cluster level): lowest-priority source of the setting.</summary>
    public bool UncleanLeaderElectionEnable { get; init; }

    /// <summary>auto.leader.rebalance.enable.</summary>
    public bool AutoLeaderRebalanceEnable { get; init; } = true;

    /// <summary>leader.imbalance.per.broker.percentage: rebalance when a broker's share of partitions it should
    /// lead but does not exceeds this.</summary>
    public int LeaderImbalancePerBrokerPercentage { get; init; } = 10;

    /// <summary>leader.imbalance.check.interval.seconds.</summary>
    public long LeaderImbalanceCheckIntervalSeconds { get; init; } = 300;

    /// <summary>Producer ids handed to a broker per AllocateProducerIds (Kafka's block size).</summary>
    public int ProducerIdBlockSize { get; init; } = 1000;

    public IReadOnlyDictionary<string, string> StaticBrokerConfigs { get; init; } = new Dictionary<string, string>();
}
