using System.Collections.Immutable;

namespace Kraft.Quorum.Metadata;

/// <summary>A replayed record referred to state that does not exist (e.g. a change to an unknown partition).
/// The controller never writes such a record, so this is a bug or a corrupt log: the node stops.</summary>
public sealed class MetadataReplayException(string message) : Exception(message);

/// <summary>A registered broker as the metadata log describes it. Immutable.</summary>
public sealed record BrokerRegistration(
    BrokerId Id,
    Guid IncarnationId,
    long BrokerEpoch,
    ValueList<BrokerEndpoint> Endpoints,
    string? Rack,
    bool Fenced)
{
    public RegisterBrokerRecord ToRecord() => new(Id, IncarnationId, BrokerEpoch, Endpoints, Rack, Fenced);
}

/// <summary>
/// One partition's replica assignment and leadership. Invariants kept by the controller (checked by
/// <see cref="MetadataImage.CheckConsistency"/>): replicas distinct; ISR non-empty and a subset of the
/// replicas; leader is -1 or an ISR member; adding and removing replicas are disjoint subsets of the replicas.
/// Immutable.
/// </summary>
public sealed record PartitionRegistration(
    ValueList<BrokerId> Replicas,
    ValueList<BrokerId> Isr,
    ValueList<BrokerId> RemovingReplicas,
    ValueList<BrokerId> AddingReplicas,
    BrokerId Leader,
    int LeaderEpoch,
    int PartitionEpoch)
{
    public bool HasLeader => Leader != BrokerId.None;

    public bool IsReassigning => RemovingReplicas.Count > 0 || AddingReplicas.Count > 0;

    /// <summary>The preferred leader is the first replica (Kafka's convention).</summary>
    public BrokerId PreferredLeader => Replicas.Count > 0 ? Replicas[0] : BrokerId.None;

    public static PartitionRegistration FromRecord(PartitionRecord r) =>
        new(r.Replicas, r.Isr, r.RemovingReplicas, r.AddingReplicas, r.Leader, r.LeaderEpoch, r.PartitionEpoch);

    public PartitionRecord ToRecord(TopicId topicId, int partition) =>
        new(topicId, partition, Replicas, Isr, RemovingReplicas, AddingReplicas, Leader, LeaderEpoch, PartitionEpoch);

    /// <summary>Replays a change: present fields replace, the partition epoch always goes up by one, and the
    /// leader epoch goes up by one when the record names a leader.</summary>
    public PartitionRegistration Apply(PartitionChangeRecord change) => this with
    {
        Replicas = change.Replicas ?? Replicas,
        Isr = change.Isr ?? Isr,
        RemovingReplicas = change.RemovingReplicas ?? RemovingReplicas,
        AddingReplicas = change.AddingReplicas ?? AddingReplicas,
        Leader = change.Leader ?? Leader,
        LeaderEpoch = change.Leader is null ? LeaderEpoch : LeaderEpoch + 1,
        PartitionEpoch = PartitionEpoch + 1,
    };
}

/// <summary>A topic and its partitions. Immutable.</summary>
public sealed record TopicImage(string Name, TopicId Id, ImmutableSortedDictionary<int, PartitionRegistration> Partitions)
{
    public PartitionRegistration? Partition(int index) => Partitions.GetValueOrDefault(index);
}

/// <summary>
/// The cluster metadata at one point of the log: brokers, topics (by name and by id) with their partitions,
/// configs, the producer-id high mark, and the offset/epoch of the last record applied. Role: what brokers
/// answer Metadata requests from and what the controller decides on. Changed only by replaying records
/// (<see cref="Replay"/>), which returns a new image; equal record histories give equal images.
/// Immutable; any thread may read it.
/// </summary>
public sealed class MetadataImage : IEquatable<MetadataImage>
{
    public static readonly MetadataImage Empty = new(
        ImmutableSortedDictionary<BrokerId, BrokerRegistration>.Empty,
        ImmutableDictionary<TopicId, TopicImage>.Empty,
        ImmutableDictionary<string, TopicImage>.Empty.WithComparers(StringComparer.Ordinal),
        ImmutableDictionary<ConfigResource, ImmutableSortedDictionary<string, string>>.Empty,
        nextProducerId: 0,
        lastAppliedOffset: -1,
        lastAppliedEpoch: -1);

    private MetadataImage(
        ImmutableSortedDictionary<BrokerId, BrokerRegistration> brokers,
        ImmutableDictionary<TopicId, TopicImage> topicsById,
        ImmutableDictionary<string, TopicImage> topicsByName,
        ImmutableDictionary<ConfigResource, ImmutableSortedDictionary<string, string>> configs,
        long nextProducerId,
        long lastAppliedOffset,
        int lastAppliedEpoch)
    {
        Brokers = brokers;
        TopicsById = topicsById;
        TopicsByName = topicsByName;
        Configs = configs;
        NextProducerId = nextProducerId;
        LastAppliedOffset = lastAppliedOffset;
        LastAppliedEpoch = lastAppliedEpoch;
    }

    public ImmutableSortedDictionary<BrokerId, BrokerRegistration> Brokers { get; }

    public ImmutableDictionary<TopicId, TopicImage> TopicsById { get; }

    public ImmutableDictionary<string, TopicImage> TopicsByName { get; }

    /// <summary>Explicitly set configs per resource (defaults are not stored).</summary>
    public ImmutableDictionary<ConfigResource, ImmutableSortedDictionary<string, string>> Configs { get; }

    /// <summary>The first producer id not yet handed to any broker.</summary>
    public long NextProducerId { get; }

    /// <summary>Raft offset of the last applied batch (-1 for the empty image).</summary>
    public long LastAppliedOffset { get; }

    /// <summary>Raft epoch of the last applied batch (-1 for the empty image).</summary>
    public int LastAppliedEpoch { get; }

    public BrokerRegistration? Broker(BrokerId id) => Brokers.GetValueOrDefault(id);

    public TopicImage? Topic(string name) => TopicsByName.GetValueOrDefault(name);

    public TopicImage? Topic(TopicId id) => TopicsById.GetValueOrDefault(id);

    public PartitionRegistration? Partition(TopicIdPartition tp) => Topic(tp.TopicId)?.Partition(tp.Partition);

    /// <summary>True when the broker is registered and not fenced: it may lead and be in ISRs.</summary>
    public bool IsUnfenced(BrokerId id) => Brokers.TryGetValue(id, out BrokerRegistration? b) && !b.Fenced;

    public string? ConfigValue(ConfigResource resource, string key) =>
        Configs.TryGetValue(resource, out ImmutableSortedDictionary<string, string>? map) ? map.GetValueOrDefault(key) : null;

    public IEnumerable<(TopicImage Topic, int Partition, PartitionRegistration Registration)> AllPartitions()
    {
        foreach (TopicImage topic in TopicsByName.Values.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            foreach (KeyValuePair<int, PartitionRegistration> p in topic.Partitions)
            {
                yield return (topic, p.Key, p.Value);
            }
        }
    }

    public MetadataImage WithProvenance(long offset, int epoch) =>
        new(Brokers, TopicsById, TopicsByName, Configs, NextProducerId, offset, epoch);

    /// <summary>Applies one record and returns the new image. Throws <see cref="MetadataReplayException"/> for a
    /// record that contradicts the image (a bug or corruption, never an expected outcome).</summary>
    public MetadataImage Replay(MetadataRecord record)
    {
        switch (record)
        {
            case RegisterBrokerRecord r:
                return WithBrokers(Brokers.SetItem(r.BrokerId, new BrokerRegistration(r.BrokerId, r.IncarnationId, r.BrokerEpoch, r.Endpoints, r.Rack, r.Fenced)));
            case UnregisterBrokerRecord r:
                RequireBroker(r.BrokerId, r.BrokerEpoch, "UnregisterBroker");
                return WithBrokers(Brokers.Remove(r.BrokerId));
            case FenceBrokerRecord r:
                return WithBrokers(Brokers.SetItem(r.BrokerId, RequireBroker(r.BrokerId, r.BrokerEpoch, "FenceBroker") with { Fenced = true }));
            case UnfenceBrokerRecord r:
                return WithBrokers(Brokers.SetItem(r.BrokerId, RequireBroker(r.BrokerId, r.BrokerEpoch, "UnfenceBroker") with { Fenced = false }));
            case TopicRecord r:
                if (TopicsById.ContainsKey(r.TopicId) || TopicsByName.ContainsKey(r.Name))
                {
                    throw new MetadataReplayException($"Topic {r.Name} ({r.TopicId}) already exists");
                }

                return WithTopic(new TopicImage(r.Name, r.TopicId, ImmutableSortedDictionary<int, PartitionRegistration>.Empty));
            case RemoveTopicRecord r:
            {
                TopicImage topic = Topic(r.TopicId) ?? throw new MetadataReplayException($"RemoveTopic of unknown topic {r.TopicId}");
                return new MetadataImage(
                    Brokers,
                    TopicsById.Remove(r.TopicId),
                    TopicsByName.Remove(topic.Name),
                    Configs.Remove(ConfigResource.ForTopic(topic.Name)),
                    NextProducerId,
                    LastAppliedOffset,
                    LastAppliedEpoch);
            }

            case PartitionRecord r:
            {
                TopicImage topic = Topic(r.TopicId) ?? throw new MetadataReplayException($"Partition of unknown topic {r.TopicId}");
                return WithTopic(topic with { Partitions = topic.Partitions.SetItem(r.PartitionIndex, PartitionRegistration.FromRecord(r)) });
            }

            case PartitionChangeRecord r:
            {
                TopicImage topic = Topic(r.TopicId) ?? throw new MetadataReplayException($"PartitionChange of unknown topic {r.TopicId}");
                PartitionRegistration partition = topic.Partition(r.PartitionIndex)
                    ?? throw new MetadataReplayException($"PartitionChange of unknown partition {r.TopicId}:{r.PartitionIndex}");
                return WithTopic(topic with { Partitions = topic.Partitions.SetItem(r.PartitionIndex, partition.Apply(r)) });
            }

            case ConfigRecord r:
            {
                var resource = new ConfigResource(r.ResourceType, r.ResourceName);
                ImmutableSortedDictionary<string, string> map = Configs.GetValueOrDefault(resource)
                    ?? ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal);
                map = r.Value is null ? map.Remove(r.Name) : map.SetItem(r.Name, r.Value);
                ImmutableDictionary<ConfigResource, ImmutableSortedDictionary<string, string>> configs =
                    map.IsEmpty ? Configs.Remove(resource) : Configs.SetItem(resource, map);
                return new MetadataImage(Brokers, TopicsById, TopicsByName, configs, NextProducerId, LastAppliedOffset, LastAppliedEpoch);
            }

            case ProducerIdsRecord r:
                if (r.NextProducerId < NextProducerId)
                {
                    throw new MetadataReplayException($"ProducerIds moves backwards from {NextProducerId} to {r.NextProducerId}");
                }

                return new MetadataImage(Brokers, TopicsById, TopicsByName, Configs, r.NextProducerId, LastAppliedOffset, LastAppliedEpoch);
            case LeaderChangeRecord:
                // The no-op carries no cluster state; it only commits the new leader's epoch.
                return this;
            default:
                throw new MetadataReplayException($"no replay rule for {record.GetType().Name}");
        }
    }

    public MetadataImage ReplayAll(IEnumerable<MetadataRecord> records)
    {
        MetadataImage image = this;
        foreach (MetadataRecord record in records)
        {
            image = image.Replay(record);
        }

        return image;
    }

    /// <summary>
    /// The image written as records (a snapshot's content), in an order that replays: brokers, topics each
    /// followed by their partitions, configs, then the producer-id mark. Deterministic (sorted).
    /// </summary>
    public IReadOnlyList<MetadataRecord> ToRecords()
    {
        var records = new List<MetadataRecord>();
        foreach (BrokerRegistration broker in Brokers.Values)
        {
            records.Add(broker.ToRecord());
        }

        foreach (TopicImage topic in TopicsByName.Values.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            records.Add(new TopicRecord(topic.Name, topic.Id));
            foreach (KeyValuePair<int, PartitionRegistration> p in topic.Partitions)
            {
                records.Add(p.Value.ToRecord(topic.Id, p.Key));
            }
        }

        foreach (KeyValuePair<ConfigResource, ImmutableSortedDictionary<string, string>> resource in
                 Configs.OrderBy(c => c.Key.Type).ThenBy(c => c.Key.Name, StringComparer.Ordinal))
        {
            foreach (KeyValuePair<string, string> entry in resource.Value)
            {
                records.Add(new ConfigRecord(resource.Key.Type, resource.Key.Name, entry.Key, entry.Value));
            }
        }

        if (NextProducerId != 0)
        {
            // The broker fields are informational; the image keeps only the high mark.
            records.Add(new ProducerIdsRecord(BrokerId.None, -1, NextProducerId));
        }

        return records;
    }

    /// <summary>Builds an image from a snapshot's records, stamped with the snapshot's offset and epoch.</summary>
    public static MetadataImage FromRecords(IEnumerable<MetadataRecord> records, long offset, int epoch) =>
        Empty.ReplayAll(records).WithProvenance(offset, epoch);

    /// <summary>
    /// Checks the invariants every committed image satisfies (see <see cref="PartitionRegistration"/>), and returns
    /// the violations (empty when consistent). Used by tests and by the controller's own assertions.
    /// </summary>
    public IReadOnlyList<string> CheckConsistency()
    {
        var problems = new List<string>();
        foreach ((TopicImage topic, int index, PartitionRegistration p) in AllPartitions())
        {
            string where = $"{topic.Name}-{index}";
            if (p.Replicas.Count == 0 || p.Replicas.Distinct().Count() != p.Replicas.Count)
            {
                problems.Add($"{where}: replicas {p.Replicas} empty or not distinct");
            }

            if (p.Isr.Count == 0 || p.Isr.Distinct().Count() != p.Isr.Count || p.Isr.Any(b => !p.Replicas.Contains(b)))
            {
                problems.Add($"{where}: isr {p.Isr} empty, not distinct, or not within replicas {p.Replicas}");
            }

            if (p.HasLeader && !p.Isr.Contains(p.Leader))
            {
                problems.Add($"{where}: leader {p.Leader} not in isr {p.Isr}");
            }

            if (p.HasLeader && !IsUnfenced(p.Leader))
            {
                problems.Add($"{where}: leader {p.Leader} is fenced or unregistered");
            }

            if (p.AddingReplicas.Any(b => !p.Replicas.Contains(b)) || p.RemovingReplicas.Any(b => !p.Replicas.Contains(b))
                || p.AddingReplicas.Intersect(p.RemovingReplicas).Any())
            {
                problems.Add($"{where}: adding {p.AddingReplicas} / removing {p.RemovingReplicas} inconsistent with replicas {p.Replicas}");
            }
        }

        foreach (KeyValuePair<ConfigResource, ImmutableSortedDictionary<string, string>> c in Configs)
        {
            if (c.Key.Type == ConfigResourceType.Topic && !TopicsByName.ContainsKey(c.Key.Name))
            {
                problems.Add($"configs for missing topic {c.Key.Name}");
            }
        }

        return problems;
    }

    public bool Equals(MetadataImage? other) =>
        other is not null
        && LastAppliedOffset == other.LastAppliedOffset
        && LastAppliedEpoch == other.LastAppliedEpoch
        && ToRecords().SequenceEqual(other.ToRecords());

    public override bool Equals(object? obj) => Equals(obj as MetadataImage);

    public override int GetHashCode() => HashCode.Combine(Brokers.Count, TopicsById.Count, LastAppliedOffset, NextProducerId);

    public override string ToString() =>
        $"MetadataImage(offset={LastAppliedOffset}, epoch={LastAppliedEpoch}, brokers={Brokers.Count}, topics={TopicsById.Count})";

    private BrokerRegistration RequireBroker(BrokerId id, long epoch, string what)
    {
        BrokerRegistration broker = Broker(id) ?? throw new MetadataReplayException($"{what} of unknown broker {id}");
        if (broker.BrokerEpoch != epoch)
        {
            throw new MetadataReplayException($"{what} of broker {id} with epoch {epoch}, registered epoch is {broker.BrokerEpoch}");
        }

        return broker;
    }

    private MetadataImage WithBrokers(ImmutableSortedDictionary<BrokerId, BrokerRegistration> brokers) =>
        new(brokers, TopicsById, TopicsByName, Configs, NextProducerId, LastAppliedOffset, LastAppliedEpoch);

    private MetadataImage WithTopic(TopicImage topic) =>
        new(Brokers, TopicsById.SetItem(topic.Id, topic), TopicsByName.SetItem(topic.Name, topic), Configs, NextProducerId, LastAppliedOffset, LastAppliedEpoch);
}
