using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Tests.Controller;

public class ReassignmentTests
{
    private static readonly TopicPartitionName T0 = new("t", 0);

    private static (ControllerHarness H, TopicId Id) Setup()
    {
        var h = new ControllerHarness();
        for (int i = 1; i <= 5; i++)
        {
            h.AddLiveBroker(i);
        }

        return (h, h.CreateTopicWithLayout("t", [1, 2, 3]));
    }

    private static AlterPartitionReply LeaderSetsIsr(ControllerHarness h, TopicId id, params int[] isr)
    {
        PartitionRegistration p = h.Partition("t", 0);
        return h.Run(h.Controller.AlterPartition(new AlterPartitionRequest(p.Leader, h.EpochOf(p.Leader.Value),
            [new AlterPartitionItem(id, 0, p.LeaderEpoch, isr.Select(b => new BrokerId(b)).ToList(), p.PartitionEpoch)]), h.NowMs));
    }

    [Fact]
    public void Reassignment_adds_new_replicas_waits_for_the_isr_moves_leadership_and_drops_the_old_ones()
    {
        (ControllerHarness h, TopicId id) = Setup();

        // Start: [1,2,3] -> [4,5,2]. The leader 1 is being removed.
        ReassignmentResult started = Assert.Single(h.Run(h.Controller.AlterPartitionReassignments([new ReassignmentTarget(T0, [new(4), new(5), new(2)])], h.NowMs)));
        Assert.True(started.Error.IsSuccess);
        PartitionRegistration during = h.Partition("t", 0);
        Assert.Equal(ValueList.Brokers(4, 5, 2, 1, 3), during.Replicas);
        Assert.Equal(ValueList.Brokers(4, 5), during.AddingReplicas);
        Assert.Equal(ValueList.Brokers(1, 3), during.RemovingReplicas);
        Assert.Equal(ValueList.Brokers(1, 2, 3), during.Isr);
        Assert.Equal(new BrokerId(1), during.Leader);

        OngoingReassignment listed = Assert.Single(h.Controller.ListPartitionReassignments(null).Response);
        Assert.Equal(T0, listed.Partition);
        Assert.Equal(ValueList.Brokers(4, 5), listed.AddingReplicas);

        // Broker 4 catches up: still waiting for 5.
        LeaderSetsIsr(h, id, 1, 2, 3, 4);
        Assert.True(h.Partition("t", 0).IsReassigning);

        // Broker 5 catches up: the reassignment completes in the same change.
        AlterPartitionReply done = LeaderSetsIsr(h, id, 1, 2, 3, 4, 5);
        PartitionRegistration after = h.Partition("t", 0);
        Assert.False(after.IsReassigning);
        Assert.Equal(ValueList.Brokers(4, 5, 2), after.Replicas);
        Assert.Equal(ValueList.Brokers(2, 4, 5), after.Isr);
        Assert.Equal(new BrokerId(4), after.Leader);
        Assert.Equal(during.LeaderEpoch + 1, after.LeaderEpoch);
        Assert.Equal(new BrokerId(4), done.Partitions[0].Leader);
        Assert.Empty(h.Controller.ListPartitionReassignments(null).Response);
    }

    [Fact]
    public void Cancelling_goes_back_to_the_original_replicas()
    {
        (ControllerHarness h, TopicId id) = Setup();
        h.Run(h.Controller.AlterPartitionReassignments([new ReassignmentTarget(T0, [new(4), new(5), new(2)])], h.NowMs));
        LeaderSetsIsr(h, id, 1, 2, 3, 4);

        ReassignmentResult cancelled = Assert.Single(h.Run(h.Controller.AlterPartitionReassignments([new ReassignmentTarget(T0, null)], h.NowMs)));
        Assert.True(cancelled.Error.IsSuccess);
        PartitionRegistration after = h.Partition("t", 0);
        // As in Kafka, the original replicas keep the order they had in the merged list (target first).
        Assert.Equal(ValueList.Brokers(2, 1, 3), after.Replicas);
        Assert.Equal(ValueList.Brokers(1, 2, 3), after.Isr);
        Assert.Equal(new BrokerId(1), after.Leader);
        Assert.False(after.IsReassigning);

        Assert.Equal(ControllerErrorCode.NoReassignmentInProgress,
            Assert.Single(h.Controller.AlterPartitionReassignments([new ReassignmentTarget(T0, null)], h.NowMs).Response).Error.Code);
    }

    [Fact]
    public void Shrinking_to_a_subset_of_the_isr_completes_at_once()
    {
        (ControllerHarness h, _) = Setup();
        h.Run(h.Controller.AlterPartitionReassignments([new ReassignmentTarget(T0, [new(3), new(2)])], h.NowMs));
        PartitionRegistration after = h.Partition("t", 0);
        Assert.Equal(ValueList.Brokers(3, 2), after.Replicas);
        Assert.Equal(ValueList.Brokers(2, 3), after.Isr);
        Assert.Equal(new BrokerId(3), after.Leader); // leader 1 was removed: the first live ISR member in the new replica order
        Assert.False(after.IsReassigning);
    }

    [Fact]
    public void A_new_target_replaces_an_ongoing_reassignment()
    {
        (ControllerHarness h, _) = Setup();
        h.Run(h.Controller.AlterPartitionReassignments([new ReassignmentTarget(T0, [new(4), new(2), new(3)])], h.NowMs));
        h.Run(h.Controller.AlterPartitionReassignments([new ReassignmentTarget(T0, [new(5), new(2), new(3)])], h.NowMs));
        PartitionRegistration p = h.Partition("t", 0);
        Assert.Equal(ValueList.Brokers(5, 2, 3, 1), p.Replicas);
        Assert.Equal(ValueList.Brokers(5), p.AddingReplicas);
        Assert.Equal(ValueList.Brokers(1), p.RemovingReplicas);
    }

    [Theory]
    [InlineData(new int[0], ControllerErrorCode.InvalidReplicaAssignment)]
    [InlineData(new[] { 1, 1 }, ControllerErrorCode.InvalidReplicaAssignment)]
    [InlineData(new[] { 1, 9 }, ControllerErrorCode.InvalidReplicaAssignment)]
    public void Bad_targets_are_refused_and_write_nothing(int[] target, ControllerErrorCode expected)
    {
        (ControllerHarness h, _) = Setup();
        ControllerResult<IReadOnlyList<ReassignmentResult>> result = h.Controller.AlterPartitionReassignments(
            [new ReassignmentTarget(T0, target.Select(b => new BrokerId(b)).ToList())], h.NowMs);
        Assert.Equal(expected, Assert.Single(result.Response).Error.Code);
        Assert.Empty(result.Records);
        Assert.Equal(ControllerErrorCode.UnknownTopicOrPartition, Assert.Single(h.Controller.AlterPartitionReassignments(
            [new ReassignmentTarget(new TopicPartitionName("t", 3), [new BrokerId(1)])], h.NowMs).Response).Error.Code);
    }
}

public class ConfigTests
{
    private static ControllerHarness Setup()
    {
        var h = new ControllerHarness(new ControllerConfig { StaticBrokerConfigs = new Dictionary<string, string> { ["log.segment.bytes"] = "1048576" } });
        h.AddLiveBroker(1);
        h.CreateTopic("t", 1, 1);
        return h;
    }

    private static IReadOnlyList<AlterConfigsResult> Alter(ControllerHarness h, ConfigResource resource, params AlterableConfig[] ops) =>
        h.Run(h.Controller.IncrementalAlterConfigs(new IncrementalAlterConfigsRequest([new AlterConfigsResource(resource, ops)]), h.NowMs));

    [Fact]
    public void Set_delete_append_and_subtract_change_topic_configs()
    {
        ControllerHarness h = Setup();
        ConfigResource t = ConfigResource.ForTopic("t");
        Assert.True(Alter(h, t, new AlterableConfig("retention.ms", AlterConfigOp.Set, "1000"), new AlterableConfig("cleanup.policy", AlterConfigOp.Append, "compact"))[0].Error.IsSuccess);
        Assert.Equal("1000", h.Image.ConfigValue(t, "retention.ms"));
        Assert.Equal("delete,compact", h.Image.ConfigValue(t, "cleanup.policy"));

        Alter(h, t, new AlterableConfig("cleanup.policy", AlterConfigOp.Subtract, "delete"), new AlterableConfig("retention.ms", AlterConfigOp.Delete, null));
        Assert.Equal("compact", h.Image.ConfigValue(t, "cleanup.policy"));
        Assert.Null(h.Image.ConfigValue(t, "retention.ms"));
    }

    [Theory]
    [InlineData("no.such.config", AlterConfigOp.Set, "1", ControllerErrorCode.InvalidConfig)]
    [InlineData("retention.ms", AlterConfigOp.Set, "abc", ControllerErrorCode.InvalidConfig)]
    [InlineData("retention.ms", AlterConfigOp.Append, "1", ControllerErrorCode.InvalidConfig)]
    [InlineData("retention.ms", AlterConfigOp.Set, null, ControllerErrorCode.InvalidConfig)]
    [InlineData("min.cleanable.dirty.ratio", AlterConfigOp.Set, "1.5", ControllerErrorCode.InvalidConfig)]
    [InlineData("message.timestamp.type", AlterConfigOp.Set, "Whenever", ControllerErrorCode.InvalidConfig)]
    public void Invalid_alterations_refuse_the_whole_resource(string key, AlterConfigOp op, string? value, ControllerErrorCode expected)
    {
        ControllerHarness h = Setup();
        ControllerResult<IReadOnlyList<AlterConfigsResult>> result = h.Controller.IncrementalAlterConfigs(new IncrementalAlterConfigsRequest(
            [new AlterConfigsResource(ConfigResource.ForTopic("t"), [new AlterableConfig("segment.ms", AlterConfigOp.Set, "100"), new AlterableConfig(key, op, value)])]), h.NowMs);
        Assert.Equal(expected, Assert.Single(result.Response).Error.Code);
        Assert.Empty(result.Records);
    }

    [Fact]
    public void Unknown_topics_and_bad_broker_names_are_refused_and_validate_only_writes_nothing()
    {
        ControllerHarness h = Setup();
        Assert.Equal(ControllerErrorCode.UnknownTopicOrPartition, Alter(h, ConfigResource.ForTopic("nope"), new AlterableConfig("retention.ms", AlterConfigOp.Set, "1"))[0].Error.Code);
        Assert.Equal(ControllerErrorCode.InvalidRequest, Alter(h, new ConfigResource(ConfigResourceType.Broker, "x"), new AlterableConfig("log.retention.ms", AlterConfigOp.Set, "1"))[0].Error.Code);
        Assert.Equal(ControllerErrorCode.InvalidConfig, Alter(h, ConfigResource.ForBroker(new BrokerId(1)), new AlterableConfig("retention.ms", AlterConfigOp.Set, "1"))[0].Error.Code);
        ControllerResult<IReadOnlyList<AlterConfigsResult>> validateOnly = h.Controller.IncrementalAlterConfigs(new IncrementalAlterConfigsRequest(
            [new AlterConfigsResource(ConfigResource.ForTopic("t"), [new AlterableConfig("retention.ms", AlterConfigOp.Set, "1")])], ValidateOnly: true), h.NowMs);
        Assert.True(validateOnly.Response[0].Error.IsSuccess);
        Assert.Empty(validateOnly.Records);
    }

    [Fact]
    public void Describe_reports_values_with_their_source_topic_then_cluster_default_then_static_then_default()
    {
        ControllerHarness h = Setup();
        Alter(h, ConfigResource.ForTopic("t"), new AlterableConfig("retention.ms", AlterConfigOp.Set, "1000"));
        Alter(h, ConfigResource.Cluster, new AlterableConfig("log.retention.bytes", AlterConfigOp.Set, "2000"));
        Alter(h, ConfigResource.ForBroker(new BrokerId(1)), new AlterableConfig("log.retention.bytes", AlterConfigOp.Set, "3000"));

        DescribeConfigsResult topic = Assert.Single(h.Controller.DescribeConfigs([new DescribeConfigsResource(ConfigResource.ForTopic("t"))]).Response);
        Assert.True(topic.Error.IsSuccess);
        DescribedConfig Entry(DescribeConfigsResult r, string name) => Assert.Single(r.Configs, c => c.Name == name);
        Assert.Equal(("1000", ConfigSource.TopicConfig, false), (Entry(topic, "retention.ms").Value, Entry(topic, "retention.ms").Source, Entry(topic, "retention.ms").IsDefault));
        Assert.Equal(("2000", ConfigSource.DynamicDefaultBrokerConfig), (Entry(topic, "retention.bytes").Value, Entry(topic, "retention.bytes").Source));
        Assert.Equal(("1048576", ConfigSource.StaticBrokerConfig), (Entry(topic, "segment.bytes").Value, Entry(topic, "segment.bytes").Source));
        Assert.Equal(("1", ConfigSource.DefaultConfig, true), (Entry(topic, "min.insync.replicas").Value, Entry(topic, "min.insync.replicas").Source, Entry(topic, "min.insync.replicas").IsDefault));
        Assert.Equal(ConfigDefinitions.TopicConfigs.Count, topic.Configs.Count);

        DescribeConfigsResult broker = Assert.Single(h.Controller.DescribeConfigs([new DescribeConfigsResource(ConfigResource.ForBroker(new BrokerId(1)), ["log.retention.bytes"])]).Response);
        Assert.Equal(("3000", ConfigSource.DynamicBrokerConfig), (Entry(broker, "log.retention.bytes").Value, Entry(broker, "log.retention.bytes").Source));
        Assert.Single(broker.Configs);

        DescribeConfigsResult cluster = Assert.Single(h.Controller.DescribeConfigs([new DescribeConfigsResource(ConfigResource.Cluster)]).Response);
        Assert.Equal(["log.retention.bytes"], cluster.Configs.Select(c => c.Name));

        Assert.Equal(ControllerErrorCode.UnknownTopicOrPartition,
            Assert.Single(h.Controller.DescribeConfigs([new DescribeConfigsResource(ConfigResource.ForTopic("zzz"))]).Response).Error.Code);
    }
}
