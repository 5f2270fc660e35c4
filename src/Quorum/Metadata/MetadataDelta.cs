using System.Collections.Immutable;

namespace Kraft.Quorum.Metadata;

/// <summary>How one partition changed between two images. Before is null for a new partition, After is null for a
/// deleted one. Immutable.</summary>
public sealed record PartitionDelta(
    TopicIdPartition Partition,
    string TopicName,
    PartitionRegistration? Before,
    PartitionRegistration? After)
{
    public bool Created => Before is null && After is not null;

    public bool Deleted => Before is not null && After is null;

    public bool LeaderChanged => Before?.Leader != After?.Leader || Before?.LeaderEpoch != After?.LeaderEpoch;

    public bool IsrChanged => Before?.Isr != After?.Isr;

    public bool ReplicasChanged => Before?.Replicas != After?.Replicas
        || Before?.AddingReplicas != After?.AddingReplicas
        || Before?.RemovingReplicas != After?.RemovingReplicas;
}

/// <summary>What one broker's replica manager must do after a delta: partitions it now leads, partitions it now
/// follows (with the new leader and epoch), and partitions it must stop hosting (deleted or moved away).</summary>
public sealed record LocalReplicaChanges(
    IReadOnlyList<PartitionDelta> Leaders,
    IReadOnlyList<PartitionDelta> Followers,
    IReadOnlyList<PartitionDelta> Removed);

/// <summary>
/// The difference between two images, handed to subscribers with the new image. Role: lets a broker react
/// to exactly what changed (leadership, ISR, replica sets, topics created/deleted, brokers fenced/unfenced,
/// configs) without comparing whole images itself. Immutable once built; any thread may read it.
/// </summary>
public sealed class MetadataDelta
{
    internal MetadataDelta(
        MetadataImage before,
        MetadataImage after,
        IReadOnlyList<TopicImage> createdTopics,
        IReadOnlyList<TopicImage> deletedTopics,
        IReadOnlyList<PartitionDelta> partitionChanges,
        IReadOnlyList<BrokerId> registeredBrokers,
        IReadOnlyList<BrokerId> unregisteredBrokers,
        IReadOnlyList<BrokerId> fencedBrokers,
        IReadOnlyList<BrokerId> unfencedBrokers,
        IReadOnlyList<ConfigResource> changedConfigs,
        bool producerIdsChanged)
    {
        Before = before;
        After = after;
        CreatedTopics = createdTopics;
        DeletedTopics = deletedTopics;
        PartitionChanges = partitionChanges;
        RegisteredBrokers = registeredBrokers;
        UnregisteredBrokers = unregisteredBrokers;
        FencedBrokers = fencedBrokers;
        UnfencedBrokers = unfencedBrokers;
        ChangedConfigs = changedConfigs;
        ProducerIdsChanged = producerIdsChanged;
    }

    public MetadataImage Before { get; }

    public MetadataImage After { get; }

    public IReadOnlyList<TopicImage> CreatedTopics { get; }

    /// <summary>Deleted topics as they were in <see cref="Before"/>.</summary>
    public IReadOnlyList<TopicImage> DeletedTopics { get; }

    /// <summary>Every partition whose registration differs (created, deleted, or changed), sorted by topic name and index.</summary>
    public IReadOnlyList<PartitionDelta> PartitionChanges { get; }

    /// <summary>Brokers that are new or re-registered with a new epoch.</summary>
    public IReadOnlyList<BrokerId> RegisteredBrokers { get; }

    public IReadOnlyList<BrokerId> UnregisteredBrokers { get; }

    public IReadOnlyList<BrokerId> FencedBrokers { get; }

    public IReadOnlyList<BrokerId> UnfencedBrokers { get; }

    public IReadOnlyList<ConfigResource> ChangedConfigs { get; }

    public bool ProducerIdsChanged { get; }

    public bool IsEmpty => CreatedTopics.Count == 0 && DeletedTopics.Count == 0 && PartitionChanges.Count == 0
        && RegisteredBrokers.Count == 0 && UnregisteredBrokers.Count == 0 && FencedBrokers.Count == 0
        && UnfencedBrokers.Count == 0 && ChangedConfigs.Count == 0 && !ProducerIdsChanged;

    /// <summary>
    /// The changes relevant to one broker: partitions where it is now leader (new leader epoch or new
    /// partition), where it is now a follower of a changed leader, and replicas it no longer hosts.
    /// </summary>
    public LocalReplicaChanges LocalChanges(BrokerId broker)
    {
        var leaders = new List<PartitionDelta>();
        var followers = new List<PartitionDelta>();
        var removed = new List<PartitionDelta>();
        foreach (PartitionDelta change in PartitionChanges)
        {
            bool wasReplica = change.Before?.Replicas.Contains(broker) ?? false;
            bool isReplica = change.After?.Replicas.Contains(broker) ?? false;
            if (!isReplica)
            {
                if (wasReplica)
                {
                    removed.Add(change);
                }

                continue;
            }

            if (change.After!.Leader == broker)
            {
                if (change.LeaderChanged || change.Created || change.IsrChanged || change.ReplicasChanged)
                {
                    leaders.Add(change);
                }
            }
            else if (change.LeaderChanged || change.Created || !wasReplica)
            {
                followers.Add(change);
            }
        }

        return new LocalReplicaChanges(leaders, followers, removed);
    }

    /// <summary>The full difference between two images (used after loading a snapshot).</summary>
    public static MetadataDelta Between(MetadataImage before, MetadataImage after) =>
        Compute(
            before,
            after,
            before.Brokers.Keys.Union(after.Brokers.Keys),
            before.TopicsById.Keys.Union(after.TopicsById.Keys),
            before.Configs.Keys.Union(after.Configs.Keys));

    internal static MetadataDelta Compute(
        MetadataImage before,
        MetadataImage after,
        IEnumerable<BrokerId> touchedBrokers,
        IEnumerable<TopicId> touchedTopics,
        IEnumerable<ConfigResource> touchedConfigs)
    {
        var created = new List<TopicImage>();
        var deleted = new List<TopicImage>();
        var partitions = new List<PartitionDelta>();
        foreach (TopicId id in touchedTopics.Distinct())
        {
            TopicImage? old = before.Topic(id);
            TopicImage? now = after.Topic(id);
            if (old is null && now is not null)
            {
                created.Add(now);
            }
            else if (old is not null && now is null)
            {
                deleted.Add(old);
            }

            string name = now?.Name ?? old?.Name ?? "";
            IEnumerable<int> indexes = (old?.Partitions.Keys ?? []).Union(now?.Partitions.Keys ?? []);
            foreach (int index in indexes)
            {
                PartitionRegistration? b = old?.Partition(index);
                PartitionRegistration? a = now?.Partition(index);
                if (!Equals(a, b))
                {
                    partitions.Add(new PartitionDelta(new TopicIdPartition(id, index), name, b, a));
                }
            }
        }

        partitions.Sort((x, y) =>
        {
            int byName = string.CompareOrdinal(x.TopicName, y.TopicName);
            return byName != 0 ? byName : x.Partition.Partition.CompareTo(y.Partition.Partition);
        });
        created.Sort((x, y) => string.CompareOrdinal(x.Name, y.Name));
        deleted.Sort((x, y) => string.CompareOrdinal(x.Name, y.Name));

        var registered = new List<BrokerId>();
        var unregistered = new List<BrokerId>();
        var fenced = new List<BrokerId>();
        var unfenced = new List<BrokerId>();
        foreach (BrokerId id in touchedBrokers.Distinct().Order())
        {
            BrokerRegistration? old = before.Broker(id);
            BrokerRegistration? now = after.Broker(id);
            if (now is null)
            {
                if (old is not null)
                {
                    unregistered.Add(id);
                }

                continue;
            }

            if (old is null || old.BrokerEpoch != now.BrokerEpoch || old.IncarnationId != now.IncarnationId)
            {
                registered.Add(id);
            }

            bool wasFenced = old?.Fenced ?? true;
            if (wasFenced && !now.Fenced)
            {
                unfenced.Add(id);
            }
            else if (old is not null && !old.Fenced && now.Fenced)
            {
                fenced.Add(id);
            }
        }

        var configs = touchedConfigs.Distinct()
            .Where(c => !SameConfigs(before.Configs.GetValueOrDefault(c), after.Configs.GetValueOrDefault(c)))
            .OrderBy(c => c.Type).ThenBy(c => c.Name, StringComparer.Ordinal)
            .ToList();

        return new MetadataDelta(before, after, created, deleted, partitions, registered, unregistered, fenced, unfenced,
            configs, before.NextProducerId != after.NextProducerId);
    }

    private static bool SameConfigs(ImmutableSortedDictionary<string, string>? a, ImmutableSortedDictionary<string, string>? b)
    {
        if (a is null || a.IsEmpty)
        {
            return b is null || b.IsEmpty;
        }

        return b is not null && a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out string? v) && v == kv.Value);
    }
}

/// <summary>
/// Replays records onto a base image while remembering which brokers, topics and configs they touched, then
/// builds the <see cref="MetadataDelta"/>. Role: one per committed batch (or per uncommitted operation in the
/// controller). Not thread-safe; owned by the thread replaying the log.
/// </summary>
public sealed class MetadataDeltaBuilder(MetadataImage baseImage)
{
    private readonly HashSet<BrokerId> _brokers = [];
    private readonly HashSet<TopicId> _topics = [];
    private readonly HashSet<ConfigResource> _configs = [];

    public MetadataImage Base { get; } = baseImage;

    public MetadataImage Current { get; private set; } = baseImage;

    public void Replay(MetadataRecord record)
    {
        switch (record)
        {
            case RegisterBrokerRecord r: _brokers.Add(r.BrokerId); break;
            case UnregisterBrokerRecord r: _brokers.Add(r.BrokerId); break;
            case FenceBrokerRecord r: _brokers.Add(r.BrokerId); break;
            case UnfenceBrokerRecord r: _brokers.Add(r.BrokerId); break;
            case TopicRecord r: _topics.Add(r.TopicId); break;
            case RemoveTopicRecord r:
                _topics.Add(r.TopicId);
                if (Current.Topic(r.TopicId) is { } topic)
                {
                    _configs.Add(ConfigResource.ForTopic(topic.Name));
                }

                break;
            case PartitionRecord r: _topics.Add(r.TopicId); break;
            case PartitionChangeRecord r: _topics.Add(r.TopicId); break;
            case ConfigRecord r: _configs.Add(new ConfigResource(r.ResourceType, r.ResourceName)); break;
        }

        Current = Current.Replay(record);
    }

    public void ReplayAll(IEnumerable<MetadataRecord> records)
    {
        foreach (MetadataRecord record in records)
        {
            Replay(record);
        }
    }

    /// <summary>Stamps the image with the Raft offset and epoch of the batch just replayed.</summary>
    public void SetProvenance(long offset, int epoch) => Current = Current.WithProvenance(offset, epoch);

    public MetadataDelta Build() => MetadataDelta.Compute(Base, Current, _brokers, _topics, _configs);
}

/// <summary>Receives each committed change: the delta and the image it produced.</summary>
public interface IMetadataSubscriber
{
    void OnMetadataUpdate(MetadataDelta delta, MetadataImage image);
}

/// <summary>
/// Applies committed metadata batches in log order and hands (delta, image) to subscribers (a broker's replica
/// manager, the Metadata request handler, the controller itself on followers). Role: the one place that
/// advances a node's committed image. Invariant: offsets strictly increase. Not thread-safe: owned by the thread
/// that applies the Raft log; subscribers run on that thread and must not block.
/// </summary>
public sealed class MetadataPublisher
{
    private readonly List<IMetadataSubscriber> _subscribers = [];

    public MetadataPublisher(MetadataImage? initial = null) => Image = initial ?? MetadataImage.Empty;

    public MetadataImage Image { get; private set; }

    public void Subscribe(IMetadataSubscriber subscriber) => _subscribers.Add(subscriber);

    public void Unsubscribe(IMetadataSubscriber subscriber) => _subscribers.Remove(subscriber);

    /// <summary>Applies one committed batch (one controller operation) at Raft offset/epoch.</summary>
    public MetadataDelta ApplyCommitted(IReadOnlyList<MetadataRecord> batch, long offset, int epoch)
    {
        if (offset <= Image.LastAppliedOffset)
        {
            throw new InvalidOperationException($"committed batch at offset {offset} is not after the image's offset {Image.LastAppliedOffset}");
        }

        var builder = new MetadataDeltaBuilder(Image);
        builder.ReplayAll(batch);
        builder.SetProvenance(offset, epoch);
        return Publish(builder.Build());
    }

    /// <summary>Applies one committed Raft entry payload written by <see cref="MetadataRecordCodec.EncodeBatch"/>.</summary>
    public MetadataDelta ApplyCommittedPayload(ReadOnlySpan<byte> payload, long offset, int epoch) =>
        ApplyCommitted(MetadataRecordCodec.DecodeBatch(payload), offset, epoch);

    /// <summary>Replaces the image with a snapshot's content; the delta is the full difference to the old image.</summary>
    public MetadataDelta LoadSnapshot(IEnumerable<MetadataRecord> records, long offset, int epoch) =>
        Publish(MetadataDelta.Between(Image, MetadataImage.FromRecords(records, offset, epoch)));

    private MetadataDelta Publish(MetadataDelta delta)
    {
        Image = delta.After;
        foreach (IMetadataSubscriber subscriber in _subscribers.ToArray())
        {
            subscriber.OnMetadataUpdate(delta, delta.After);
        }

        return delta;
    }
}
