namespace Kraft.Quorum.Metadata;

/// <summary>
/// The type id written in front of every metadata record. These values reach the Raft log on disk and
/// snapshots, so they are append-only: never renumber, never reuse a retired id (tested in
/// MetadataRecordTypeTests). Kraft's own numbering; see docs/controller.md for the byte layouts.
/// </summary>
public enum MetadataRecordType : short
{
    RegisterBroker = 1,
    UnregisterBroker = 2,
    FenceBroker = 3,
    UnfenceBroker = 4,
    Topic = 5,
    RemoveTopic = 6,
    Partition = 7,
    PartitionChange = 8,
    Config = 9,
    ProducerIds = 10,
    LeaderChange = 11,
}

/// <summary>Kafka's security protocol ids (SecurityProtocol.id), as they appear in broker registrations.</summary>
public enum SecurityProtocol : short
{
    Plaintext = 0,
    Ssl = 1,
    SaslPlaintext = 2,
    SaslSsl = 3,
}

/// <summary>
/// Kafka's ConfigResource.Type codes for the resources Kraft stores configs for. The cluster-wide default
/// is, as in Kafka, the <see cref="Broker"/> resource with the empty name (see <see cref="ConfigResource.Cluster"/>).
/// Append-only: the value is written into <see cref="ConfigRecord"/>.
/// </summary>
public enum ConfigResourceType : byte
{
    Topic = 2,
    Broker = 4,
}

/// <summary>A config resource: a topic by name, a broker by id, or the cluster default (broker, "").</summary>
public readonly record struct ConfigResource(ConfigResourceType Type, string Name)
{
    /// <summary>The cluster-wide dynamic default, Kafka's broker resource with an empty name.</summary>
    public static ConfigResource Cluster => new(ConfigResourceType.Broker, "");

    public static ConfigResource ForTopic(string name) => new(ConfigResourceType.Topic, name);

    public static ConfigResource ForBroker(BrokerId id) => new(ConfigResourceType.Broker, id.ToString());

    public bool IsClusterDefault => Type == ConfigResourceType.Broker && Name.Length == 0;
}

/// <summary>One listener a broker advertises (Kafka's BrokerEndpoint in RegisterBrokerRecord).</summary>
public sealed record BrokerEndpoint(string Name, string Host, int Port, SecurityProtocol SecurityProtocol);

/// <summary>
/// Base of every metadata record. Role: the unit the controller proposes and every node replays, in log
/// order, to build its <see cref="MetadataImage"/>. Invariants: immutable; equality is structural (lists are
/// <see cref="ValueList{T}"/>); each subtype has exactly one <see cref="MetadataRecordType"/> and a current
/// <see cref="Version"/> that <see cref="MetadataRecordCodec"/> knows how to write.
/// </summary>
public abstract record MetadataRecord
{
    public abstract MetadataRecordType Type { get; }

    /// <summary>The format version this record is written with. All records are at version 0 today.</summary>
    public virtual short Version => 0;
}

/// <summary>A broker registered (or re-registered with a new incarnation and a new broker epoch).</summary>
public sealed record RegisterBrokerRecord(
    BrokerId BrokerId,
    Guid IncarnationId,
    long BrokerEpoch,
    ValueList<BrokerEndpoint> Endpoints,
    string? Rack,
    bool Fenced) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.RegisterBroker;
}

/// <summary>A broker removed from the cluster (its registration with this epoch is dropped).</summary>
public sealed record UnregisterBrokerRecord(BrokerId BrokerId, long BrokerEpoch) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.UnregisterBroker;
}

/// <summary>A broker fenced: it may not lead or join ISRs until unfenced.</summary>
public sealed record FenceBrokerRecord(BrokerId BrokerId, long BrokerEpoch) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.FenceBroker;
}

/// <summary>A broker unfenced: it caught up with the metadata log and heartbeats on time.</summary>
public sealed record UnfenceBrokerRecord(BrokerId BrokerId, long BrokerEpoch) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.UnfenceBroker;
}

/// <summary>A topic created; its partitions follow as <see cref="PartitionRecord"/>s in the same batch.</summary>
public sealed record TopicRecord(string Name, TopicId TopicId) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.Topic;
}

/// <summary>A topic deleted, with its partitions and its topic configs.</summary>
public sealed record RemoveTopicRecord(TopicId TopicId) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.RemoveTopic;
}

/// <summary>
/// The full state of one partition (written at creation, on partition increase, and in snapshots).
/// Leader is <see cref="BrokerId.None"/> when the partition is offline.
/// </summary>
public sealed record PartitionRecord(
    TopicId TopicId,
    int PartitionIndex,
    ValueList<BrokerId> Replicas,
    ValueList<BrokerId> Isr,
    ValueList<BrokerId> RemovingReplicas,
    ValueList<BrokerId> AddingReplicas,
    BrokerId Leader,
    int LeaderEpoch,
    int PartitionEpoch) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.Partition;
}

/// <summary>
/// A change to one partition; only the fields that change are present (null = unchanged). Replaying it
/// always bumps the partition epoch by one, and bumps the leader epoch by one when <see cref="Leader"/> is
/// present (KIP-841 semantics: every leader change is a new leader epoch, every change a new partition epoch).
/// </summary>
public sealed record PartitionChangeRecord(
    TopicId TopicId,
    int PartitionIndex,
    BrokerId? Leader = null,
    ValueList<BrokerId>? Isr = null,
    ValueList<BrokerId>? Replicas = null,
    ValueList<BrokerId>? RemovingReplicas = null,
    ValueList<BrokerId>? AddingReplicas = null) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.PartitionChange;
}

/// <summary>A config key set (Value non-null) or deleted (Value null) on a resource.</summary>
public sealed record ConfigRecord(ConfigResourceType ResourceType, string ResourceName, string Name, string? Value) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.Config;
}

/// <summary>A block of producer ids handed to a broker; <see cref="NextProducerId"/> is the first id not yet given out.</summary>
public sealed record ProducerIdsRecord(BrokerId BrokerId, long BrokerEpoch, long NextProducerId) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.ProducerIds;
}

/// <summary>
/// The no-op a new controller leader writes first: once it commits, everything the previous leaders
/// committed is known to be committed in this epoch too (Raft thesis 6.4, KRaft's LeaderChangeMessage).
/// </summary>
public sealed record LeaderChangeRecord(int LeaderId, int Epoch) : MetadataRecord
{
    public override MetadataRecordType Type => MetadataRecordType.LeaderChange;
}
