using Kraft.Quorum.Metadata;

namespace Kraft.Broker.Cluster;

/// <summary>Builds the broker's <see cref="ClusterView"/> from the committed <see cref="MetadataImage"/>.</summary>
public static class ClusterViews
{
    /// <param name="listenerName">The listener whose address clients get (Kafka's inter.broker/advertised listener name, e.g. PLAINTEXT).</param>
    public static ClusterView From(MetadataImage image, string clusterId, int controllerId, string listenerName)
    {
        var brokers = new Dictionary<int, BrokerInfo>();
        foreach (var (id, registration) in image.Brokers)
        {
            var endpoint = registration.Endpoints.FirstOrDefault(e => string.Equals(e.Name, listenerName, StringComparison.OrdinalIgnoreCase))
                ?? registration.Endpoints.FirstOrDefault();
            if (endpoint is null)
            {
                continue;
            }
            brokers[id.Value] = new BrokerInfo(id.Value, endpoint.Host, endpoint.Port, registration.Rack, registration.Fenced);
        }
        var topics = new Dictionary<string, TopicInfo>();
        foreach (var topic in image.TopicsByName.Values)
        {
            var partitions = topic.Partitions.Select(p => new PartitionInfo(
                topic.Name,
                p.Key,
                p.Value.Leader.Value,
                p.Value.LeaderEpoch,
                p.Value.PartitionEpoch,
                p.Value.Replicas.Select(r => r.Value).ToArray(),
                p.Value.Isr.Select(r => r.Value).ToArray())).ToList();
            topics[topic.Name] = new TopicInfo(topic.Name, topic.Id.Value, partitions, topic.Name.StartsWith("__", StringComparison.Ordinal));
        }
        return new ClusterView(clusterId, controllerId, brokers, topics);
    }
}
