using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Tests.Metadata;

public class MetadataImageTests
{
    private static readonly TopicId T1 = new(Guid.Parse("00000000-0000-0000-0000-000000000001"));
    private static readonly TopicId T2 = new(Guid.Parse("00000000-0000-0000-0000-000000000002"));

    private static RegisterBrokerRecord Broker(int id, string? rack = null, bool fenced = false) =>
        new(new BrokerId(id), new Guid(id, 0, 0, new byte[8]), id * 10, ValueList.Of(new BrokerEndpoint("PLAINTEXT", $"h{id}", 9092, SecurityProtocol.Plaintext)), rack, fenced);

    private static IReadOnlyList<MetadataRecord> SampleHistory() =>
    [
        Broker(1, "a"), Broker(2, "b"), Broker(3, "a", fenced: true),
        new TopicRecord("orders", T1),
        new PartitionRecord(T1, 0, ValueList.Brokers(1, 2), ValueList.Brokers(1, 2), ValueList.Brokers(), ValueList.Brokers(), new BrokerId(1), 0, 0),
        new PartitionRecord(T1, 1, ValueList.Brokers(2, 1), ValueList.Brokers(2, 1), ValueList.Brokers(), ValueList.Brokers(), new BrokerId(2), 0, 0),
        new TopicRecord("audit", T2),
        new PartitionRecord(T2, 0, ValueList.Brokers(2), ValueList.Brokers(2), ValueList.Brokers(), ValueList.Brokers(), new BrokerId(2), 0, 0),
        new ConfigRecord(ConfigResourceType.Topic, "orders", "retention.ms", "1000"),
        new ConfigRecord(ConfigResourceType.Broker, "", "log.retention.ms", "5000"),
        new PartitionChangeRecord(T1, 0, Leader: new BrokerId(2), Isr: ValueList.Brokers(2)),
        new ProducerIdsRecord(new BrokerId(1), 10, 1000),
        new UnfenceBrokerRecord(new BrokerId(3), 30),
        new FenceBrokerRecord(new BrokerId(1), 10),
    ];

    [Fact]
    public void Replaying_records_builds_brokers_topics_partitions_configs_and_producer_ids()
    {
        MetadataImage image = MetadataImage.Empty.ReplayAll(SampleHistory()).WithProvenance(41, 3);

        Assert.True(image.Broker(new BrokerId(1))!.Fenced);
        Assert.False(image.Broker(new BrokerId(3))!.Fenced);
        Assert.Equal(T1, image.Topic("orders")!.Id);
        Assert.Equal("audit", image.Topic(T2)!.Name);
        PartitionRegistration p = image.Partition(new TopicIdPartition(T1, 0))!;
        Assert.Equal(new BrokerId(2), p.Leader);
        Assert.Equal(ValueList.Brokers(2), p.Isr);
        Assert.Equal(1, p.LeaderEpoch);
        Assert.Equal(1, p.PartitionEpoch);
        Assert.Equal("1000", image.ConfigValue(ConfigResource.ForTopic("orders"), "retention.ms"));
        Assert.Equal("5000", image.ConfigValue(ConfigResource.Cluster, "log.retention.ms"));
        Assert.Equal(1000, image.NextProducerId);
        Assert.Equal(41, image.LastAppliedOffset);
        Assert.Equal(3, image.LastAppliedEpoch);
    }

    [Fact]
    public void An_isr_only_change_bumps_the_partition_epoch_but_not_the_leader_epoch()
    {
        MetadataImage image = MetadataImage.Empty.ReplayAll(SampleHistory().Take(8))
            .Replay(new PartitionChangeRecord(T1, 0, Isr: ValueList.Brokers(1)));
        PartitionRegistration p = image.Partition(new TopicIdPartition(T1, 0))!;
        Assert.Equal((0, 1), (p.LeaderEpoch, p.PartitionEpoch));
    }

    [Fact]
    public void Snapshot_round_trip_image_to_records_to_image_is_equal()
    {
        MetadataImage image = MetadataImage.Empty.ReplayAll(SampleHistory()).WithProvenance(41, 3);
        IReadOnlyList<MetadataRecord> snapshot = image.ToRecords();
        MetadataImage loaded = MetadataImage.FromRecords(snapshot, 41, 3);
        Assert.Equal(image, loaded);

        // The snapshot also survives its binary form.
        byte[] bytes = MetadataRecordCodec.EncodeBatch(snapshot);
        Assert.Equal(image, MetadataImage.FromRecords(MetadataRecordCodec.DecodeBatch(bytes), 41, 3));
    }

    [Fact]
    public void Image_equality_notices_a_single_changed_field()
    {
        MetadataImage image = MetadataImage.Empty.ReplayAll(SampleHistory());
        Assert.NotEqual(image, image.Replay(new PartitionChangeRecord(T2, 0)));
        Assert.NotEqual(image, image.WithProvenance(5, 1));
        Assert.NotEqual(image, image.Replay(new ConfigRecord(ConfigResourceType.Topic, "audit", "retention.ms", "1")));
    }

    [Fact]
    public void Removing_a_topic_removes_its_partitions_and_configs()
    {
        MetadataImage image = MetadataImage.Empty.ReplayAll(SampleHistory()).Replay(new RemoveTopicRecord(T1));
        Assert.Null(image.Topic("orders"));
        Assert.Null(image.Topic(T1));
        Assert.Null(image.ConfigValue(ConfigResource.ForTopic("orders"), "retention.ms"));
        Assert.Empty(image.CheckConsistency());
    }

    [Fact]
    public void Records_that_contradict_the_image_are_replay_errors()
    {
        MetadataImage image = MetadataImage.Empty.ReplayAll(SampleHistory());
        Assert.Throws<MetadataReplayException>(() => image.Replay(new TopicRecord("orders", new TopicId(Guid.NewGuid()))));
        Assert.Throws<MetadataReplayException>(() => image.Replay(new PartitionChangeRecord(T1, 9)));
        Assert.Throws<MetadataReplayException>(() => image.Replay(new FenceBrokerRecord(new BrokerId(2), 999)));
        Assert.Throws<MetadataReplayException>(() => image.Replay(new ProducerIdsRecord(new BrokerId(1), 10, 5)));
    }

    [Fact]
    public void Delta_reports_partition_leader_and_isr_changes_topics_and_fencing()
    {
        MetadataImage before = MetadataImage.Empty.ReplayAll(SampleHistory().Take(8)).WithProvenance(7, 1);
        var builder = new MetadataDeltaBuilder(before);
        builder.ReplayAll(
        [
            new PartitionChangeRecord(T1, 0, Leader: new BrokerId(2), Isr: ValueList.Brokers(2)),
            new RemoveTopicRecord(T2),
            new TopicRecord("new", new TopicId(Guid.Parse("00000000-0000-0000-0000-000000000003"))),
            new FenceBrokerRecord(new BrokerId(1), 10),
            new UnfenceBrokerRecord(new BrokerId(3), 30),
        ]);
        builder.SetProvenance(8, 1);
        MetadataDelta delta = builder.Build();

        Assert.Equal(8, delta.After.LastAppliedOffset);
        Assert.Equal(["new"], delta.CreatedTopics.Select(t => t.Name));
        Assert.Equal(["audit"], delta.DeletedTopics.Select(t => t.Name));
        Assert.Equal([new BrokerId(1)], delta.FencedBrokers);
        Assert.Equal([new BrokerId(3)], delta.UnfencedBrokers);
        PartitionDelta changed = Assert.Single(delta.PartitionChanges, c => c.Partition == new TopicIdPartition(T1, 0));
        Assert.True(changed.LeaderChanged);
        Assert.True(changed.IsrChanged);
        Assert.False(changed.ReplicasChanged);
        Assert.Contains(delta.PartitionChanges, c => c.Deleted && c.Partition.TopicId == T2);
        Assert.DoesNotContain(delta.PartitionChanges, c => c.Partition == new TopicIdPartition(T1, 1));

        LocalReplicaChanges broker2 = delta.LocalChanges(new BrokerId(2));
        Assert.Equal([new TopicIdPartition(T1, 0)], broker2.Leaders.Select(c => c.Partition));
        Assert.Equal([new TopicIdPartition(T2, 0)], broker2.Removed.Select(c => c.Partition));
        LocalReplicaChanges broker1 = delta.LocalChanges(new BrokerId(1));
        Assert.Equal([new TopicIdPartition(T1, 0)], broker1.Followers.Select(c => c.Partition));
    }

    [Fact]
    public void Publisher_hands_each_committed_batch_to_subscribers_as_delta_and_image()
    {
        var publisher = new MetadataPublisher();
        var seen = new List<(MetadataDelta Delta, MetadataImage Image)>();
        publisher.Subscribe(new Recorder(seen));

        publisher.ApplyCommitted(SampleHistory().Take(3).ToList(), offset: 0, epoch: 1);
        publisher.ApplyCommittedPayload(MetadataRecordCodec.EncodeBatch(SampleHistory().Skip(3).Take(5).ToList()), offset: 1, epoch: 1);

        Assert.Equal(2, seen.Count);
        Assert.Equal([1, 2, 3], seen[0].Delta.RegisteredBrokers.Select(b => b.Value));
        Assert.Equal(["audit", "orders"], seen[1].Delta.CreatedTopics.Select(t => t.Name));
        Assert.Same(publisher.Image, seen[1].Image);
        Assert.Equal(1, publisher.Image.LastAppliedOffset);
        Assert.Throws<InvalidOperationException>(() => publisher.ApplyCommitted([], offset: 1, epoch: 1));

        MetadataImage snapshot = MetadataImage.Empty.ReplayAll(SampleHistory());
        MetadataDelta fromSnapshot = publisher.LoadSnapshot(snapshot.ToRecords(), 50, 2);
        Assert.Equal(snapshot.WithProvenance(50, 2), publisher.Image);
        Assert.Equal([new BrokerId(1)], fromSnapshot.FencedBrokers);
    }

    private sealed class Recorder(List<(MetadataDelta, MetadataImage)> seen) : IMetadataSubscriber
    {
        public void OnMetadataUpdate(MetadataDelta delta, MetadataImage image) => seen.Add((delta, image));
    }
}
