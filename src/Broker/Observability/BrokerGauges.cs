using System.Diagnostics.Metrics;
using System.Globalization;
using Kraft.Broker.Cluster;
using Kraft.Broker.Groups;
using Kraft.Quorum.RaftDriver;

namespace Kraft.Broker.Observability;

/// <summary>One group's lag on one partition: the partition's high watermark minus the group's committed offset.</summary>
public readonly record struct GroupLag(string GroupId, string Topic, int Partition, long Lag);

/// <summary>
/// The pure computations behind the broker's scrape-time gauges (read by the node's HTTP endpoint), kept here so
/// that they can be tested without a node, plus the exporter filter that keeps one node's series to itself.
/// Stateless; thread-safe.
/// </summary>
public static class BrokerGauges
{
    /// <summary>Kafka: ReplicaManager UnderReplicatedPartitions. Partitions led by <paramref name="nodeId"/> whose ISR is smaller than the replica set.</summary>
    public static int UnderReplicatedPartitions(ClusterView view, int nodeId) =>
        view.Topics.Values.SelectMany(t => t.Partitions).Count(p => p.Leader == nodeId && p.Isr.Count < p.Replicas.Count);

    /// <summary>
    /// Kafka: ReplicaManager UnderMinIsrPartitionCount. Partitions led by <paramref name="nodeId"/> whose ISR is
    /// smaller than their topic's min.insync.replicas (the topic config, else the broker default), where acks=all
    /// produce fails with NOT_ENOUGH_REPLICAS.
    /// </summary>
    public static int UnderMinIsrPartitions(ClusterView view, int nodeId, Func<string, int> minInSyncReplicas)
    {
        ArgumentNullException.ThrowIfNull(minInSyncReplicas);
        int count = 0;
        foreach (var topic in view.Topics.Values)
        {
            int? minIsr = null;
            foreach (var p in topic.Partitions)
            {
                if (p.Leader == nodeId && p.Isr.Count < (minIsr ??= minInSyncReplicas(topic.Name)))
                {
                    count++;
                }
            }
        }
        return count;
    }

    /// <summary>
    /// Consumer lag per (group, topic, partition): the high watermark minus the committed offset, never negative
    /// (a commit may run ahead of a follower's view of the high watermark). Offsets without a committed position
    /// (negative) and partitions whose high watermark is unknown here (<paramref name="highWatermark"/> returns null:
    /// no replica on this broker) are left out rather than reported as a guess.
    /// </summary>
    public static List<GroupLag> GroupLags(IEnumerable<CommittedOffset> offsets, Func<string, int, long?> highWatermark)
    {
        ArgumentNullException.ThrowIfNull(offsets);
        ArgumentNullException.ThrowIfNull(highWatermark);
        var lags = new List<GroupLag>();
        foreach (var offset in offsets)
        {
            if (offset.Offset < 0 || highWatermark(offset.Partition.Topic, offset.Partition.Partition) is not long hw || hw < 0)
            {
                continue;
            }
            lags.Add(new GroupLag(offset.GroupId, offset.Partition.Topic, offset.Partition.Partition, Math.Max(0, hw - offset.Offset)));
        }
        return lags;
    }

    /// <summary>
    /// Registers kraft.broker.under_min_isr_partitions on <paramref name="meter"/> (read at each scrape from the
    /// view <paramref name="view"/> returns). Kept here, not in the node's HTTP endpoint, so tests export it as is.
    /// </summary>
    public static ObservableGauge<int> RegisterUnderMinIsr(Meter meter, int nodeId, Func<ClusterView> view, Func<string, int> minInSyncReplicas)
    {
        ArgumentNullException.ThrowIfNull(meter);
        return meter.CreateObservableGauge("kraft.broker.under_min_isr_partitions", () => UnderMinIsrPartitions(view(), nodeId, minInSyncReplicas),
            description: "Partitions led here whose ISR is smaller than min.insync.replicas (Kafka: UnderMinIsrPartitionCount)");
    }

    /// <summary>Registers kraft.broker.group.lag on <paramref name="meter"/>: one series per (group, topic, partition) that <paramref name="lags"/> returns.</summary>
    public static ObservableGauge<long> RegisterGroupLag(Meter meter, Func<IReadOnlyList<GroupLag>> lags)
    {
        ArgumentNullException.ThrowIfNull(meter);
        ArgumentNullException.ThrowIfNull(lags);
        return meter.CreateObservableGauge("kraft.broker.group.lag", () => lags().Select(l => new Measurement<long>(l.Lag,
                new KeyValuePair<string, object?>("group", l.GroupId), new KeyValuePair<string, object?>("topic", l.Topic), new KeyValuePair<string, object?>("partition", l.Partition))),
            unit: "{records}", description: "High watermark minus committed offset, per group, topic and partition, for groups coordinated here (partitions with a replica here)");
    }

    /// <summary>
    /// The exporter's meter filter for node <paramref name="nodeId"/>: Kraft's meters (by name) that are either tagged
    /// with this node id (kraft.node.id: the Raft, controller and per-node broker gauges) or carry no node tag at all
    /// (the process-wide request, topic and storage instruments). Meters of other nodes in the same process are left
    /// out, so each node's /metrics shows its own per-node series once.
    /// </summary>
    public static Func<Meter, bool> NodeMeterFilter(int nodeId)
    {
        string id = nodeId.ToString(CultureInfo.InvariantCulture);
        return meter =>
        {
            if (!PrometheusExporterOptions.KraftMeterNames.Contains(meter.Name))
            {
                return false;
            }
            foreach (var tag in meter.Tags ?? [])
            {
                if (tag.Key == RaftMetrics.NodeIdTag)
                {
                    return Convert.ToString(tag.Value, CultureInfo.InvariantCulture) == id;
                }
            }
            return true;
        };
    }
}
