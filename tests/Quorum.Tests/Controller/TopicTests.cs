using FsCheck;
using FsCheck.Fluent;
using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Tests.Controller;

public class TopicTests
{
    private static ControllerHarness ThreeBrokers(ControllerConfig? config = null)
    {
        var h = new ControllerHarness(config);
        h.AddLiveBroker(1, "a");
        h.AddLiveBroker(2, "b");
        h.AddLiveBroker(3, "c");
        return h;
    }

    [Fact]
    public void Creating_a_topic_writes_topic_partition_and_config_records_and_replays_to_the_expected_image()
    {
        ControllerHarness h = ThreeBrokers();
        MetadataImage before = h.Controller.LatestImage;
        ControllerResult<IReadOnlyList<CreateTopicResult>> result = h.Controller.CreateTopics(
            new CreateTopicsRequest([new CreatableTopic("orders", 3, 2, new Dictionary<string, string?> { ["retention.ms"] = "1000" })]), h.NowMs);

        CreateTopicResult created = Assert.Single(result.Response);
        Assert.True(created.Error.IsSuccess);
        Assert.Equal((3, (short)2), (created.NumPartitions, created.ReplicationFactor));
        Assert.Equal(5, result.Records.Count);
        Assert.IsType<TopicRecord>(result.Records[0]);
        Assert.IsType<ConfigRecord>(result.Records[4]);

        MetadataImage after = before.ReplayAll(result.Records);
        TopicImage topic = after.Topic("orders")!;
        Assert.Equal(created.TopicId, topic.Id);
        Assert.Equal(3, topic.Partitions.Count);
        foreach (PartitionRegistration p in topic.Partitions.Values)
        {
            Assert.Equal(2, p.Replicas.Count);
            Assert.Equal(p.Replicas, p.Isr);
            Assert.Equal(p.Replicas[0], p.Leader);
            Assert.Equal((0, 0), (p.LeaderEpoch, p.PartitionEpoch));
        }

        Assert.Equal(3, topic.Partitions.Values.Select(p => p.Leader).Distinct().Count());
        Assert.Equal("1000", after.ConfigValue(ConfigResource.ForTopic("orders"), "retention.ms"));
        Assert.Empty(after.CheckConsistency());
    }

    [Fact]
    public void Defaults_are_num_partitions_1_and_default_replication_factor_1()
    {
        ControllerHarness h = ThreeBrokers();
        CreateTopicResult created = h.CreateTopic("d", -1, -1);
        Assert.Equal((1, (short)1), (created.NumPartitions, created.ReplicationFactor));
        Assert.Single(h.Partition("d", 0).Replicas);
    }

    [Theory]
    [InlineData("", ControllerErrorCode.InvalidTopicException)]
    [InlineData(".", ControllerErrorCode.InvalidTopicException)]
    [InlineData("..", ControllerErrorCode.InvalidTopicException)]
    [InlineData("has space", ControllerErrorCode.InvalidTopicException)]
    [InlineData("slash/no", ControllerErrorCode.InvalidTopicException)]
    [InlineData("ünicode", ControllerErrorCode.InvalidTopicException)]
    [InlineData("existing", ControllerErrorCode.TopicAlreadyExists)]
    [InlineData("exist_ing", ControllerErrorCode.None)]
    [InlineData("my.topic", ControllerErrorCode.InvalidTopicException)]
    [InlineData("Ok.name_-9", ControllerErrorCode.None)]
    public void Topic_names_follow_kafkas_rules(string name, ControllerErrorCode expected)
    {
        ControllerHarness h = ThreeBrokers();
        h.CreateTopic("existing", 1, 1);
        h.CreateTopic("my_topic", 1, 1);
        ControllerResult<IReadOnlyList<CreateTopicResult>> result = h.Controller.CreateTopics(new CreateTopicsRequest([new CreatableTopic(name, 1, 1)]), h.NowMs);
        CreateTopicResult r = Assert.Single(result.Response);
        Assert.Equal(expected, r.Error.Code);
        Assert.Equal(expected == ControllerErrorCode.None, result.Records.Count > 0);
        if (!r.Error.IsSuccess)
        {
            Assert.False(string.IsNullOrEmpty(r.Error.Message));
        }
    }

    [Fact]
    public void Names_longer_than_249_characters_are_invalid()
    {
        Assert.Null(TopicNames.Validate(new string('a', 249)));
        Assert.NotNull(TopicNames.Validate(new string('a', 250)));
    }

    [Theory]
    [InlineData(0, 1, ControllerErrorCode.InvalidPartitions)]
    [InlineData(-5, 1, ControllerErrorCode.InvalidPartitions)]
    [InlineData(1, 0, ControllerErrorCode.InvalidReplicationFactor)]
    [InlineData(1, 4, ControllerErrorCode.InvalidReplicationFactor)]
    [InlineData(1, 3, ControllerErrorCode.None)]
    public void Partition_count_and_replication_factor_are_validated(int partitions, short rf, ControllerErrorCode expected)
    {
        ControllerHarness h = ThreeBrokers();
        ControllerResult<IReadOnlyList<CreateTopicResult>> result = h.Controller.CreateTopics(new CreateTopicsRequest([new CreatableTopic("t", partitions, rf)]), h.NowMs);
        Assert.Equal(expected, Assert.Single(result.Response).Error.Code);
        Assert.Equal(expected == ControllerErrorCode.None, result.Records.Count > 0);
    }

    [Fact]
    public void Replication_factor_counts_only_unfenced_brokers()
    {
        ControllerHarness h = ThreeBrokers();
        h.NowMs += 9_001;
        h.HeartbeatAllBut(3);
        h.Run(h.Controller.Tick(h.NowMs));
        ControllerResult<IReadOnlyList<CreateTopicResult>> result = h.Controller.CreateTopics(new CreateTopicsRequest([new CreatableTopic("t", 1, 3)]), h.NowMs);
        Assert.Equal(ControllerErrorCode.InvalidReplicationFactor, Assert.Single(result.Response).Error.Code);
    }

    [Theory]
    [InlineData("retention.mss", "1")]
    [InlineData("retention.ms", "soon")]
    [InlineData("retention.ms", "-2")]
    [InlineData("cleanup.policy", "delete,shred")]
    [InlineData("min.insync.replicas", "0")]
    [InlineData("unclean.leader.election.enable", "yes")]
    [InlineData("retention.ms", null)]
    public void Unknown_or_ill_typed_configs_are_invalid_config(string key, string? value)
    {
        ControllerHarness h = ThreeBrokers();
        ControllerResult<IReadOnlyList<CreateTopicResult>> result = h.Controller.CreateTopics(
            new CreateTopicsRequest([new CreatableTopic("t", 1, 1, new Dictionary<string, string?> { [key] = value })]), h.NowMs);
        Assert.Equal(ControllerErrorCode.InvalidConfig, Assert.Single(result.Response).Error.Code);
        Assert.Empty(result.Records);
    }

    [Fact]
    public void Validate_only_answers_but_writes_nothing()
    {
        ControllerHarness h = ThreeBrokers();
        ControllerResult<IReadOnlyList<CreateTopicResult>> result = h.Controller.CreateTopics(
            new CreateTopicsRequest([new CreatableTopic("t", 4, 2), new CreatableTopic("..", 1, 1)], ValidateOnly: true), h.NowMs);
        Assert.Empty(result.Records);
        Assert.True(result.Response[0].Error.IsSuccess);
        Assert.Equal(ControllerErrorCode.InvalidTopicException, result.Response[1].Error.Code);
        Assert.Null(h.Controller.LatestImage.Topic("t"));
    }

    [Fact]
    public void One_bad_topic_does_not_fail_the_others_in_the_same_request()
    {
        ControllerHarness h = ThreeBrokers();
        IReadOnlyList<CreateTopicResult> results = h.Run(h.Controller.CreateTopics(
            new CreateTopicsRequest([new CreatableTopic("good", 1, 1), new CreatableTopic("bad", 1, 9), new CreatableTopic("good", 1, 1)]), h.NowMs));
        Assert.Equal([ControllerErrorCode.InvalidRequest, ControllerErrorCode.InvalidReplicationFactor, ControllerErrorCode.InvalidRequest], results.Select(r => r.Error.Code));
        IReadOnlyList<CreateTopicResult> second = h.Run(h.Controller.CreateTopics(
            new CreateTopicsRequest([new CreatableTopic("good", 1, 1), new CreatableTopic("bad", 1, 9)]), h.NowMs));
        Assert.Equal([ControllerErrorCode.None, ControllerErrorCode.InvalidReplicationFactor], second.Select(r => r.Error.Code));
    }

    [Fact]
    public void Deleting_a_topic_removes_it_and_its_configs_and_unknown_topics_are_reported()
    {
        ControllerHarness h = ThreeBrokers();
        TopicId id = h.CreateTopic("t", 2, 2, new Dictionary<string, string?> { ["retention.ms"] = "5" }).TopicId;
        IReadOnlyList<DeleteTopicResult> results = h.Run(h.Controller.DeleteTopics(new DeleteTopicsRequest(["t", "nope"]), h.NowMs));
        Assert.Equal([ControllerErrorCode.None, ControllerErrorCode.UnknownTopicOrPartition], results.Select(r => r.Error.Code));
        Assert.Equal(id, results[0].TopicId);
        Assert.Null(h.Image.Topic("t"));
        Assert.Empty(h.Image.Configs);
        ControllerResult<IReadOnlyList<DeleteTopicResult>> byId = h.Controller.DeleteTopics(new DeleteTopicsRequest([], [id]), h.NowMs);
        Assert.Equal(ControllerErrorCode.UnknownTopicId, Assert.Single(byId.Response).Error.Code);
        Assert.Empty(byId.Records);
    }

    [Fact]
    public void Create_partitions_only_increases_and_keeps_the_replication_factor()
    {
        ControllerHarness h = ThreeBrokers();
        h.CreateTopic("t", 2, 2);
        Assert.Equal(ControllerErrorCode.InvalidPartitions,
            Assert.Single(h.Run(h.Controller.CreatePartitions(new CreatePartitionsRequest([new CreatePartitionsTopic("t", 2)]), h.NowMs))).Error.Code);
        Assert.Equal(ControllerErrorCode.InvalidPartitions,
            Assert.Single(h.Run(h.Controller.CreatePartitions(new CreatePartitionsRequest([new CreatePartitionsTopic("t", 1)]), h.NowMs))).Error.Code);
        Assert.Equal(ControllerErrorCode.UnknownTopicOrPartition,
            Assert.Single(h.Run(h.Controller.CreatePartitions(new CreatePartitionsRequest([new CreatePartitionsTopic("x", 5)]), h.NowMs))).Error.Code);

        ControllerResult<IReadOnlyList<CreatePartitionsResult>> result = h.Controller.CreatePartitions(new CreatePartitionsRequest([new CreatePartitionsTopic("t", 5)]), h.NowMs);
        Assert.Equal(3, result.Records.Count);
        h.Run(result);
        Assert.Equal(5, h.Image.Topic("t")!.Partitions.Count);
        Assert.All(h.Image.Topic("t")!.Partitions.Values, p => Assert.Equal(2, p.Replicas.Count));
        // Across the whole topic, leaders stay within one of each other.
        var leaders = h.Image.Topic("t")!.Partitions.Values.GroupBy(p => p.Leader).Select(g => g.Count()).ToList();
        Assert.True(leaders.Max() - leaders.Min() <= 1 && leaders.Count == 3, string.Join(",", leaders));
    }
}

public class ReplicaPlacementTests
{
    private static Gen<(List<UsableBroker> Brokers, int Partitions, int Rf, int Rotation)> Scenario(bool racks) =>
        from brokerCount in Gen.Choose(1, 12)
        from rackCount in Gen.Choose(1, 5)
        from rackOf in Gen.ArrayOf(Gen.Choose(0, rackCount - 1), brokerCount)
        from partitions in Gen.Choose(1, 60)
        from rf in Gen.Choose(1, brokerCount)
        from rotation in Gen.Choose(0, 1000)
        select (Enumerable.Range(0, brokerCount).Select(i => new UsableBroker(new BrokerId(i * 3 + 1), racks ? $"rack{rackOf[i]}" : null)).ToList(), partitions, rf, rotation);

    [Fact]
    public void No_two_replicas_of_a_partition_share_a_broker_and_leaders_are_balanced_within_one()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), Prop.ForAll(Arb.From(Scenario(racks: true)), s =>
        {
            IReadOnlyList<ValueList<BrokerId>> placement = ReplicaPlacer.Place(s.Brokers, s.Partitions, s.Rf, s.Rotation);
            bool distinct = placement.All(p => p.Count == s.Rf && p.Distinct().Count() == s.Rf);
            int[] leaders = s.Brokers.Select(b => placement.Count(p => p[0] == b.Id)).ToArray();
            return distinct && placement.Count == s.Partitions && leaders.Max() - leaders.Min() <= 1;
        }));
    }

    [Fact]
    public void Replicas_span_distinct_racks_whenever_there_are_at_least_rf_racks()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), Prop.ForAll(Arb.From(Scenario(racks: true)), s =>
        {
            int racks = s.Brokers.Select(b => b.Rack).Distinct().Count();
            var rackOf = s.Brokers.ToDictionary(b => b.Id, b => b.Rack);
            IReadOnlyList<ValueList<BrokerId>> placement = ReplicaPlacer.Place(s.Brokers, s.Partitions, s.Rf, s.Rotation);
            int expectedDistinctRacks = Math.Min(racks, s.Rf);
            return placement.All(p => p.Select(b => rackOf[b]).Distinct().Count() == expectedDistinctRacks);
        }));
    }

    [Fact]
    public void Without_racks_replica_counts_are_balanced_within_one()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), Prop.ForAll(Arb.From(Scenario(racks: false)), s =>
        {
            IReadOnlyList<ValueList<BrokerId>> placement = ReplicaPlacer.Place(s.Brokers, s.Partitions, s.Rf, s.Rotation);
            int[] counts = s.Brokers.Select(b => placement.Count(p => p.Contains(b.Id))).ToArray();
            return counts.Max() - counts.Min() <= 1;
        }));
    }

    [Fact]
    public void The_rack_alternating_list_takes_one_broker_per_rack_in_turn()
    {
        UsableBroker[] list = ReplicaPlacer.RackAlternatingList(
        [
            new(new BrokerId(2), "a"), new(new BrokerId(1), "a"), new(new BrokerId(3), "b"), new(new BrokerId(5), "c"), new(new BrokerId(4), "c"),
        ]);
        Assert.Equal([1, 3, 4, 2, 5], list.Select(b => b.Id.Value));
    }
}

public class ManualAssignmentTests
{
    private static IReadOnlyList<IReadOnlyList<BrokerId>> Layout(params int[][] lists) =>
        lists.Select(l => (IReadOnlyList<BrokerId>)l.Select(b => new BrokerId(b)).ToList()).ToList();

    [Fact]
    public void Explicit_assignments_are_used_as_given_with_the_live_replicas_as_isr()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        h.AddLiveBroker(3);
        h.Heartbeat(3, wantShutDown: true);
        CreateTopicResult r = Assert.Single(h.Run(h.Controller.CreateTopics(new CreateTopicsRequest(
            [new CreatableTopic("m", Assignments: Layout([3, 1], [2, 3]))]), h.NowMs)));
        Assert.True(r.Error.IsSuccess, r.Error.ToString());
        Assert.Equal((2, (short)2), (r.NumPartitions, r.ReplicationFactor));
        Assert.Equal(ValueList.Brokers(3, 1), h.Partition("m", 0).Replicas);
        Assert.Equal(ValueList.Brokers(1), h.Partition("m", 0).Isr);
        Assert.Equal(new BrokerId(1), h.Partition("m", 0).Leader);
        Assert.Equal(new BrokerId(2), h.Partition("m", 1).Leader);
    }

    [Theory]
    [InlineData(new[] { 1, 1 }, new[] { 1, 2 }, 2, ControllerErrorCode.InvalidRequest)]
    [InlineData(new[] { 1, 1 }, new[] { 1, 2 }, -1, ControllerErrorCode.InvalidReplicaAssignment)]
    [InlineData(new[] { 1, 2 }, new[] { 1 }, -1, ControllerErrorCode.InvalidReplicaAssignment)]
    [InlineData(new[] { 1, 9 }, new[] { 1, 2 }, -1, ControllerErrorCode.InvalidReplicaAssignment)]
    public void Bad_explicit_assignments_are_refused(int[] first, int[] second, int partitions, ControllerErrorCode expected)
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        ControllerResult<IReadOnlyList<CreateTopicResult>> result = h.Controller.CreateTopics(new CreateTopicsRequest(
            [new CreatableTopic("m", NumPartitions: partitions, Assignments: Layout(first, second))]), h.NowMs);
        Assert.Equal(expected, Assert.Single(result.Response).Error.Code);
        Assert.Empty(result.Records);
    }
}
