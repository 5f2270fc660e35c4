using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Controller;

// Requests and responses of the controller operations. Field names follow Kafka's message schemas
// (BrokerRegistration, BrokerHeartbeat, CreateTopics, AlterPartition, ...) so the broker maps them 1:1.
// All immutable.

public sealed record BrokerRegistrationRequest(BrokerId BrokerId, Guid IncarnationId, IReadOnlyList<BrokerEndpoint> Listeners, string? Rack);

public sealed record BrokerRegistrationReply(ApiError Error, long BrokerEpoch);

/// <summary>CurrentMetadataOffset is the offset of the last metadata record the broker has applied.</summary>
public sealed record BrokerHeartbeatRequest(BrokerId BrokerId, long BrokerEpoch, long CurrentMetadataOffset, bool WantFence = false, bool WantShutDown = false);

public sealed record BrokerHeartbeatReply(ApiError Error, bool IsCaughtUp, bool IsFenced, bool ShouldShutDown);

/// <summary>NumPartitions / ReplicationFactor of -1 take num.partitions / default.replication.factor.
/// Assignments, when given, are the replica lists of partitions 0..n-1 (then both counts must be -1, as in Kafka).
/// A null config value is rejected (INVALID_CONFIG).</summary>
public sealed record CreatableTopic(
    string Name,
    int NumPartitions = -1,
    short ReplicationFactor = -1,
    IReadOnlyDictionary<string, string?>? Configs = null,
    IReadOnlyList<IReadOnlyList<BrokerId>>? Assignments = null);

public sealed record CreateTopicsRequest(IReadOnlyList<CreatableTopic> Topics, bool ValidateOnly = false);

public sealed record CreateTopicResult(string Name, TopicId TopicId, ApiError Error, int NumPartitions, short ReplicationFactor);

/// <summary>Topics to delete by name (Kafka's DeleteTopics v0-5) or by id (v6+).</summary>
public sealed record DeleteTopicsRequest(IReadOnlyList<string> Names, IReadOnlyList<TopicId>? Ids = null);

public sealed record DeleteTopicResult(string? Name, TopicId TopicId, ApiError Error);

/// <summary>Count is the new total number of partitions.</summary>
public sealed record CreatePartitionsTopic(string Name, int Count);

public sealed record CreatePartitionsRequest(IReadOnlyList<CreatePartitionsTopic> Topics, bool ValidateOnly = false);

public sealed record CreatePartitionsResult(string Name, ApiError Error);

public sealed record AlterPartitionItem(TopicId TopicId, int PartitionIndex, int LeaderEpoch, IReadOnlyList<BrokerId> NewIsr, int PartitionEpoch);

public sealed record AlterPartitionRequest(BrokerId BrokerId, long BrokerEpoch, IReadOnlyList<AlterPartitionItem> Partitions);

public sealed record AlterPartitionItemResult(
    TopicId TopicId, int PartitionIndex, ApiError Error, BrokerId Leader, int LeaderEpoch, ValueList<BrokerId> Isr, int PartitionEpoch);

/// <summary>Error is the request-level error (e.g. STALE_BROKER_EPOCH); per-partition errors are in Partitions.</summary>
public sealed record AlterPartitionReply(ApiError Error, IReadOnlyList<AlterPartitionItemResult> Partitions);

/// <summary>Kafka's ElectionType values.</summary>
public enum ElectionType : byte
{
    Preferred = 0,
    Unclean = 1,
}

public sealed record TopicPartitionName(string Topic, int Partition)
{
    public override string ToString() => $"{Topic}-{Partition}";
}

/// <summary>Partitions null means every partition (only partitions actually elected are reported then).</summary>
public sealed record ElectLeadersRequest(ElectionType Type, IReadOnlyList<TopicPartitionName>? Partitions);

public sealed record ElectLeaderResult(TopicPartitionName Partition, ApiError Error);

/// <summary>Replicas null cancels an ongoing reassignment.</summary>
public sealed record ReassignmentTarget(TopicPartitionName Partition, IReadOnlyList<BrokerId>? Replicas);

public sealed record ReassignmentResult(TopicPartitionName Partition, ApiError Error);

public sealed record OngoingReassignment(
    TopicPartitionName Partition, ValueList<BrokerId> Replicas, ValueList<BrokerId> AddingReplicas, ValueList<BrokerId> RemovingReplicas);

/// <summary>Kafka's IncrementalAlterConfigs operation types.</summary>
public enum AlterConfigOp : byte
{
    Set = 0,
    Delete = 1,
    Append = 2,
    Subtract = 3,
}

public sealed record AlterableConfig(string Name, AlterConfigOp Op, string? Value);

public sealed record AlterConfigsResource(ConfigResource Resource, IReadOnlyList<AlterableConfig> Configs);

public sealed record IncrementalAlterConfigsRequest(IReadOnlyList<AlterConfigsResource> Resources, bool ValidateOnly = false);

public sealed record AlterConfigsResult(ConfigResource Resource, ApiError Error);

/// <summary>Kafka's DescribeConfigs ConfigSource values.</summary>
public enum ConfigSource : byte
{
    Unknown = 0,
    TopicConfig = 1,
    DynamicBrokerConfig = 2,
    DynamicDefaultBrokerConfig = 3,
    StaticBrokerConfig = 4,
    DefaultConfig = 5,
}

/// <summary>Keys null means every known config of the resource.</summary>
public sealed record DescribeConfigsResource(ConfigResource Resource, IReadOnlyList<string>? Keys = null);

public sealed record DescribedConfig(string Name, string? Value, ConfigSource Source, bool IsDefault, bool ReadOnly, bool IsSensitive, ConfigType Type);

public sealed record DescribeConfigsResult(ConfigResource Resource, ApiError Error, IReadOnlyList<DescribedConfig> Configs);

public sealed record AllocateProducerIdsRequest(BrokerId BrokerId, long BrokerEpoch);

public sealed record AllocateProducerIdsReply(ApiError Error, long ProducerIdStart, int ProducerIdLen);

/// <summary>What a periodic tick did: brokers fenced for missed heartbeats, leaders moved by the automatic
/// preferred-leader rebalance, and offline partitions given an unclean leader.</summary>
public sealed record TickReport(IReadOnlyList<BrokerId> FencedBrokers, int RebalancedPartitions, int UncleanElections);

/// <summary>When this node last heard from a broker's node by other means than its heartbeats (see QuorumController.Activate).</summary>
public readonly record struct BrokerContact(BrokerId Broker, long LastContactMs);
