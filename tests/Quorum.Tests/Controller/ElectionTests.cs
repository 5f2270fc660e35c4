using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Tests.Controller;

public class ElectionTests
{
    /// <summary>Three live brokers and topic t with one partition, replicas [1,2,3], shrunk to ISR [1].</summary>
    private static (ControllerHarness H, TopicId Id) IsrOfOne(ControllerConfig? config = null, Dictionary<string, string?>? topicConfigs = null)
    {
        var h = new ControllerHarness(config);
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        h.AddLiveBroker(3);
        TopicId id = h.CreateTopicWithLayout("t", [1, 2, 3]);
        if (topicConfigs is not null)
        {
            h.Run(h.Controller.IncrementalAlterConfigs(new IncrementalAlterConfigsRequest(
                [new AlterConfigsResource(ConfigResource.ForTopic("t"), topicConfigs.Select(kv => new AlterableConfig(kv.Key, AlterConfigOp.Set, kv.Value)).ToList())]), h.NowMs));
        }

        PartitionRegistration p = h.Partition("t", 0);
        AlterPartitionReply reply = h.Run(h.Controller.AlterPartition(new AlterPartitionRequest(new BrokerId(1), h.EpochOf(1),
            [new AlterPartitionItem(id, 0, p.LeaderEpoch, [new BrokerId(1)], p.PartitionEpoch)]), h.NowMs));
        Assert.True(reply.Partitions[0].Error.IsSuccess);
        return (h, id);
    }

    private static void ExpireBroker1(ControllerHarness h)
    {
        h.NowMs += 9_001;
        h.HeartbeatAllBut(1);
        h.Run(h.Controller.Tick(h.NowMs));
    }

    [Fact]
    public void Without_unclean_election_a_partition_whose_isr_is_all_fenced_goes_offline_with_the_isr_unchanged()
    {
        (ControllerHarness h, _) = IsrOfOne();
        PartitionRegistration before = h.Partition("t", 0);
        ExpireBroker1(h);
        PartitionRegistration after = h.Partition("t", 0);
        Assert.Equal(BrokerId.None, after.Leader);
        Assert.Equal(ValueList.Brokers(1), after.Isr);
        Assert.Equal(before.LeaderEpoch + 1, after.LeaderEpoch);
    }

    [Fact]
    public void Cluster_level_unclean_election_elects_a_live_replica_whose_isr_is_itself_alone()
    {
        (ControllerHarness h, _) = IsrOfOne(new ControllerConfig { UncleanLeaderElectionEnable = true });
        ExpireBroker1(h);
        PartitionRegistration after = h.Partition("t", 0);
        Assert.Equal(new BrokerId(2), after.Leader);
        Assert.Equal(ValueList.Brokers(2), after.Isr);
    }

    [Fact]
    public void A_topic_level_false_beats_a_cluster_level_true()
    {
        (ControllerHarness h, _) = IsrOfOne(new ControllerConfig { UncleanLeaderElectionEnable = true },
            new Dictionary<string, string?> { ["unclean.leader.election.enable"] = "false" });
        ExpireBroker1(h);
        Assert.Equal(BrokerId.None, h.Partition("t", 0).Leader);
    }

    [Fact]
    public void A_topic_level_false_beats_a_dynamic_cluster_default_true()
    {
        (ControllerHarness h, _) = IsrOfOne(topicConfigs: new Dictionary<string, string?> { ["unclean.leader.election.enable"] = "false" });
        h.Run(h.Controller.IncrementalAlterConfigs(new IncrementalAlterConfigsRequest(
            [new AlterConfigsResource(ConfigResource.Cluster, [new AlterableConfig("unclean.leader.election.enable", AlterConfigOp.Set, "true")])]), h.NowMs));
        Assert.False(h.Controller.UncleanLeaderElectionAllowed(h.Image, "t"));
        Assert.True(h.Controller.UncleanLeaderElectionAllowed(h.Image, "other"));
        ExpireBroker1(h);
        Assert.Equal(BrokerId.None, h.Partition("t", 0).Leader);
    }

    [Fact]
    public void A_topic_level_true_beats_a_cluster_level_false_and_the_dynamic_cluster_default_counts_too()
    {
        (ControllerHarness h, _) = IsrOfOne(topicConfigs: new Dictionary<string, string?> { ["unclean.leader.election.enable"] = "true" });
        ExpireBroker1(h);
        Assert.Equal(new BrokerId(2), h.Partition("t", 0).Leader);

        (ControllerHarness h2, _) = IsrOfOne();
        h2.Run(h2.Controller.IncrementalAlterConfigs(new IncrementalAlterConfigsRequest(
            [new AlterConfigsResource(ConfigResource.Cluster, [new AlterableConfig("unclean.leader.election.enable", AlterConfigOp.Set, "true")])]), h2.NowMs));
        ExpireBroker1(h2);
        Assert.Equal(new BrokerId(2), h2.Partition("t", 0).Leader);
    }

    [Fact]
    public void Enabling_unclean_election_later_lets_the_tick_elect_an_offline_partition()
    {
        (ControllerHarness h, _) = IsrOfOne();
        ExpireBroker1(h);
        Assert.Equal(BrokerId.None, h.Partition("t", 0).Leader);
        h.Run(h.Controller.IncrementalAlterConfigs(new IncrementalAlterConfigsRequest(
            [new AlterConfigsResource(ConfigResource.ForTopic("t"), [new AlterableConfig("unclean.leader.election.enable", AlterConfigOp.Set, "true")])]), h.NowMs));
        TickReport report = h.Run(h.Controller.Tick(h.NowMs));
        Assert.Equal(1, report.UncleanElections);
        Assert.Equal(new BrokerId(2), h.Partition("t", 0).Leader);
    }

    [Fact]
    public void Unclean_elect_leaders_on_demand_needs_no_config_but_only_applies_to_leaderless_partitions()
    {
        (ControllerHarness h, _) = IsrOfOne();
        var name = new TopicPartitionName("t", 0);
        Assert.Equal(ControllerErrorCode.ElectionNotNeeded,
            Assert.Single(h.Run(h.Controller.ElectLeaders(new ElectLeadersRequest(ElectionType.Unclean, [name]), h.NowMs))).Error.Code);
        ExpireBroker1(h);
        ControllerResult<IReadOnlyList<ElectLeaderResult>> result = h.Controller.ElectLeaders(new ElectLeadersRequest(ElectionType.Unclean, [name]), h.NowMs);
        Assert.True(Assert.Single(result.Response).Error.IsSuccess);
        h.Run(result);
        Assert.Equal(new BrokerId(2), h.Partition("t", 0).Leader);
        Assert.Equal(ValueList.Brokers(2), h.Partition("t", 0).Isr);
    }

    [Fact]
    public void Preferred_election_moves_leadership_back_to_the_first_replica_only_when_it_is_a_live_isr_member()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        TopicId id = h.CreateTopicWithLayout("t", [1, 2]);
        var name = new TopicPartitionName("t", 0);
        Assert.Equal(ControllerErrorCode.ElectionNotNeeded,
            Assert.Single(h.Run(h.Controller.ElectLeaders(new ElectLeadersRequest(ElectionType.Preferred, [name]), h.NowMs))).Error.Code);

        // Broker 1 shuts down and comes back; broker 2 leads and broker 1 is not in the ISR yet.
        h.Heartbeat(1, wantShutDown: true);
        Assert.Equal(new BrokerId(2), h.Partition("t", 0).Leader);
        h.AddLiveBroker(1);
        ControllerResult<IReadOnlyList<ElectLeaderResult>> notYet = h.Controller.ElectLeaders(new ElectLeadersRequest(ElectionType.Preferred, [name]), h.NowMs);
        Assert.Equal(ControllerErrorCode.PreferredLeaderNotAvailable, Assert.Single(notYet.Response).Error.Code);
        Assert.Empty(notYet.Records);

        PartitionRegistration p = h.Partition("t", 0);
        h.Run(h.Controller.AlterPartition(new AlterPartitionRequest(new BrokerId(2), h.EpochOf(2),
            [new AlterPartitionItem(id, 0, p.LeaderEpoch, [new BrokerId(2), new BrokerId(1)], p.PartitionEpoch)]), h.NowMs));
        Assert.True(Assert.Single(h.Run(h.Controller.ElectLeaders(new ElectLeadersRequest(ElectionType.Preferred, [name]), h.NowMs))).Error.IsSuccess);
        Assert.Equal(new BrokerId(1), h.Partition("t", 0).Leader);
        Assert.Equal(p.LeaderEpoch + 1, h.Partition("t", 0).LeaderEpoch);

        Assert.Equal(ControllerErrorCode.UnknownTopicOrPartition,
            Assert.Single(h.Controller.ElectLeaders(new ElectLeadersRequest(ElectionType.Preferred, [new TopicPartitionName("t", 7)]), h.NowMs).Response).Error.Code);
    }

    [Fact]
    public void Automatic_rebalance_runs_every_check_interval_and_moves_leaders_to_preferred_replicas()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        TopicId id = h.CreateTopicWithLayout("t", [1, 2], [1, 2], [2, 1]);
        h.Heartbeat(1, wantShutDown: true);
        h.AddLiveBroker(1);
        foreach (int i in new[] { 0, 1 })
        {
            PartitionRegistration p = h.Partition("t", i);
            h.Run(h.Controller.AlterPartition(new AlterPartitionRequest(new BrokerId(2), h.EpochOf(2),
                [new AlterPartitionItem(id, i, p.LeaderEpoch, [new BrokerId(2), new BrokerId(1)], p.PartitionEpoch)]), h.NowMs));
        }

        Assert.All(h.Image.Topic("t")!.Partitions.Values, p => Assert.Equal(new BrokerId(2), p.Leader));
        Assert.Equal(0, h.Run(h.Controller.Tick(h.NowMs)).RebalancedPartitions); // the 300 s interval has not passed

        h.NowMs += 300_000;
        h.HeartbeatAllBut();
        TickReport report = h.Run(h.Controller.Tick(h.NowMs));
        Assert.Equal(2, report.RebalancedPartitions);
        Assert.Equal(new BrokerId(1), h.Partition("t", 0).Leader);
        Assert.Equal(new BrokerId(1), h.Partition("t", 1).Leader);
        Assert.Equal(new BrokerId(2), h.Partition("t", 2).Leader);
    }

    [Fact]
    public void Automatic_rebalance_can_be_disabled()
    {
        var h = new ControllerHarness(new ControllerConfig { AutoLeaderRebalanceEnable = false });
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        TopicId id = h.CreateTopicWithLayout("t", [1, 2]);
        h.Heartbeat(1, wantShutDown: true);
        h.AddLiveBroker(1);
        PartitionRegistration p = h.Partition("t", 0);
        h.Run(h.Controller.AlterPartition(new AlterPartitionRequest(new BrokerId(2), h.EpochOf(2),
            [new AlterPartitionItem(id, 0, p.LeaderEpoch, [new BrokerId(2), new BrokerId(1)], p.PartitionEpoch)]), h.NowMs));
        h.NowMs += 600_000;
        h.HeartbeatAllBut();
        Assert.Equal(0, h.Run(h.Controller.Tick(h.NowMs)).RebalancedPartitions);
        Assert.Equal(new BrokerId(2), h.Partition("t", 0).Leader);
    }
}

public class AlterPartitionTests
{
    private static (ControllerHarness H, TopicId Id) Setup()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        h.AddLiveBroker(3);
        h.AddLiveBroker(4);
        return (h, h.CreateTopicWithLayout("t", [1, 2, 3]));
    }

    private static ControllerResult<AlterPartitionReply> Alter(ControllerHarness h, TopicId id, int sender, int[] isr, int? leaderEpoch = null, int? partitionEpoch = null)
    {
        PartitionRegistration p = h.Partition("t", 0);
        return h.Controller.AlterPartition(new AlterPartitionRequest(new BrokerId(sender), h.EpochOf(sender),
            [new AlterPartitionItem(id, 0, leaderEpoch ?? p.LeaderEpoch, isr.Select(b => new BrokerId(b)).ToList(), partitionEpoch ?? p.PartitionEpoch)]), h.NowMs);
    }

    [Fact]
    public void Shrink_and_expand_change_the_isr_and_bump_only_the_partition_epoch()
    {
        (ControllerHarness h, TopicId id) = Setup();
        PartitionRegistration before = h.Partition("t", 0);
        AlterPartitionReply shrink = h.Run(Alter(h, id, 1, [1, 2]));
        AlterPartitionItemResult r = Assert.Single(shrink.Partitions);
        Assert.True(r.Error.IsSuccess);
        Assert.Equal(ValueList.Brokers(1, 2), r.Isr);
        Assert.Equal((before.LeaderEpoch, before.PartitionEpoch + 1), (r.LeaderEpoch, r.PartitionEpoch));
        Assert.Equal(ValueList.Brokers(1, 2), h.Partition("t", 0).Isr);

        AlterPartitionReply expand = h.Run(Alter(h, id, 1, [1, 2, 3]));
        Assert.Equal(before.PartitionEpoch + 2, expand.Partitions[0].PartitionEpoch);
        Assert.Equal(ValueList.Brokers(1, 2, 3), h.Partition("t", 0).Isr);
    }

    [Theory]
    [InlineData("stale leader epoch", ControllerErrorCode.FencedLeaderEpoch)]
    [InlineData("stale partition epoch", ControllerErrorCode.InvalidUpdateVersion)]
    [InlineData("not the leader", ControllerErrorCode.NotLeaderOrFollower)]
    [InlineData("not a replica", ControllerErrorCode.InvalidRequest)]
    [InlineData("leader missing", ControllerErrorCode.InvalidRequest)]
    [InlineData("fenced member", ControllerErrorCode.IneligibleReplica)]
    public void Requests_decided_on_a_stale_or_wrong_view_are_refused_and_write_nothing(string scenario, ControllerErrorCode expected)
    {
        (ControllerHarness h, TopicId id) = Setup();
        h.Run(Alter(h, id, 1, [1, 2])); // partition epoch moves on
        PartitionRegistration p = h.Partition("t", 0);
        if (scenario == "fenced member")
        {
            h.NowMs += 9_001;
            h.HeartbeatAllBut(3);
            h.Run(h.Controller.Tick(h.NowMs));
            p = h.Partition("t", 0);
        }

        ControllerResult<AlterPartitionReply> result = scenario switch
        {
            "stale leader epoch" => Alter(h, id, 1, [1], leaderEpoch: p.LeaderEpoch - 1),
            "stale partition epoch" => Alter(h, id, 1, [1], partitionEpoch: p.PartitionEpoch - 1),
            "not the leader" => Alter(h, id, 2, [1, 2]),
            "not a replica" => Alter(h, id, 1, [1, 4]),
            "leader missing" => Alter(h, id, 1, [2]),
            "fenced member" => Alter(h, id, 1, [1, 2, 3]),
            _ => throw new ArgumentException(scenario),
        };
        Assert.Equal(expected, Assert.Single(result.Response.Partitions).Error.Code);
        Assert.False(string.IsNullOrEmpty(result.Response.Partitions[0].Error.Message));
        Assert.Empty(result.Records);
    }

    [Fact]
    public void A_stale_broker_epoch_refuses_the_whole_request()
    {
        (ControllerHarness h, TopicId id) = Setup();
        PartitionRegistration p = h.Partition("t", 0);
        ControllerResult<AlterPartitionReply> result = h.Controller.AlterPartition(new AlterPartitionRequest(new BrokerId(1), h.EpochOf(1) - 1,
            [new AlterPartitionItem(id, 0, p.LeaderEpoch, [new BrokerId(1)], p.PartitionEpoch)]), h.NowMs);
        Assert.Equal(ControllerErrorCode.StaleBrokerEpoch, result.Response.Error.Code);
        Assert.Empty(result.Records);
    }

    [Fact]
    public void The_second_of_two_requests_decided_on_the_same_epoch_is_refused_even_before_the_first_commits()
    {
        (ControllerHarness h, TopicId id) = Setup();
        ControllerResult<AlterPartitionReply> first = Alter(h, id, 1, [1, 2]);
        h.Propose(first);
        PartitionRegistration stale = h.Partition("t", 0); // committed view: the first is not committed yet
        ControllerResult<AlterPartitionReply> second = h.Controller.AlterPartition(new AlterPartitionRequest(new BrokerId(1), h.EpochOf(1),
            [new AlterPartitionItem(id, 0, stale.LeaderEpoch, [new BrokerId(1)], stale.PartitionEpoch)]), h.NowMs);
        Assert.Equal(ControllerErrorCode.InvalidUpdateVersion, second.Response.Partitions[0].Error.Code);
        h.CommitAll();
    }
}
