namespace Kraft.Broker.Cluster;

/// <summary>
/// What a broker needs to know about the cluster to serve clients and replicate: brokers with their
/// listeners, topics and partition assignments (leader, leader epoch, replicas, ISR). In a running node it is
/// built from the committed metadata image; tests build it by hand. Immutable.
/// </summary>
public sealed record ClusterView(
    string ClusterId,
    int ControllerId,
    IReadOnlyDictionary<int, BrokerInfo> Brokers,
    IReadOnlyDictionary<string, TopicInfo> Topics)
{
    public static ClusterView Empty { get; } = new("", -1, new Dictionary<int, BrokerInfo>(), new Dictionary<string, TopicInfo>());

    public IEnumerable<PartitionInfo> PartitionsOn(int brokerId) =>
        Topics.Values.SelectMany(t => t.Partitions).Where(p => p.Replicas.Contains(brokerId));
}

/// <summary>A registered broker: its Kafka listener address and rack; fenced brokers are not offered to clients.</summary>
public sealed record BrokerInfo(int Id, string Host, int Port, string? Rack, bool Fenced);

public sealed record TopicInfo(string Name, Guid TopicId, IReadOnlyList<PartitionInfo> Partitions, bool IsInternal = false);

/// <summary>One partition's assignment as decided by the controller.</summary>
public sealed record PartitionInfo(
    string Topic,
    int Partition,
    int Leader,
    int LeaderEpoch,
    int PartitionEpoch,
    IReadOnlyList<int> Replicas,
    IReadOnlyList<int> Isr)
{
    public bool IsOffline => Leader < 0;
}
