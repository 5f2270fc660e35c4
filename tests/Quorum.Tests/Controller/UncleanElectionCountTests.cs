using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Tests.Controller;

/// <summary>
/// The controller counts, in <see cref="QuorumController.UncleanElectionsReplayed"/>, committed PartitionChanges that
/// elect a leader from outside the ISR: the source of kraft_controller_unclean_elections_total.
/// </summary>
public class UncleanElectionCountTests
{
    /// <summary>Three live brokers; topic t, replicas [1,2,3], ISR shrunk to [1]; then broker 1's session expires.</summary>
    private static ControllerHarness IsrOfOneThenBroker1Expires(ControllerConfig config)
    {
        var h = new ControllerHarness(config);
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        h.AddLiveBroker(3);
        TopicId id = h.CreateTopicWithLayout("t", [1, 2, 3]);
        PartitionRegistration p = h.Partition("t", 0);
        AlterPartitionReply reply = h.Run(h.Controller.AlterPartition(new AlterPartitionRequest(new BrokerId(1), h.EpochOf(1),
            [new AlterPartitionItem(id, 0, p.LeaderEpoch, [new BrokerId(1)], p.PartitionEpoch)]), h.NowMs));
        Assert.True(reply.Partitions[0].Error.IsSuccess);
        h.NowMs += 9_001;
        h.HeartbeatAllBut(1);
        return h;
    }

    [Fact]
    public void An_unclean_election_by_the_tick_is_counted_once_when_it_commits()
    {
        var h = IsrOfOneThenBroker1Expires(new ControllerConfig { UncleanLeaderElectionEnable = true });
        Assert.Equal(0, h.Controller.UncleanElectionsReplayed);

        // Fencing broker 1 elects broker 2 in the same operation (TickReport.UncleanElections does not see that
        // path); the count comes from the committed records instead.
        h.Propose(h.Controller.Tick(h.NowMs));
        Assert.Equal(0, h.Controller.UncleanElectionsReplayed); // decided, not yet committed

        h.CommitAll();
        Assert.Equal(1, h.Controller.UncleanElectionsReplayed);
        Assert.Equal(new BrokerId(2), h.Partition("t", 0).Leader);

        h.NowMs += 100;
        h.HeartbeatAllBut(1);
        h.Run(h.Controller.Tick(h.NowMs));
        Assert.Equal(1, h.Controller.UncleanElectionsReplayed);
    }

    [Fact]
    public void Clean_elections_after_fencing_and_going_offline_are_not_counted()
    {
        var h = IsrOfOneThenBroker1Expires(new ControllerConfig());
        h.Run(h.Controller.Tick(h.NowMs));
        Assert.Equal(BrokerId.None, h.Partition("t", 0).Leader);
        Assert.Equal(0, h.Controller.UncleanElectionsReplayed);
    }

    [Fact]
    public void An_explicit_unclean_ElectLeaders_is_counted()
    {
        var h = IsrOfOneThenBroker1Expires(new ControllerConfig());
        h.Run(h.Controller.Tick(h.NowMs));
        var results = h.Run(h.Controller.ElectLeaders(new ElectLeadersRequest(ElectionType.Unclean, [new TopicPartitionName("t", 0)]), h.NowMs));
        Assert.True(results.Single().Error.IsSuccess, results.Single().Error.ToString());
        Assert.Equal(1, h.Controller.UncleanElectionsReplayed);
    }

    [Fact]
    public void IsUncleanElection_looks_at_the_isr_just_before_the_change()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        TopicId id = h.CreateTopicWithLayout("t", [1, 2]);
        MetadataImage image = h.Image;

        Assert.False(QuorumController.IsUncleanElection(image, new PartitionChangeRecord(id, 0, Leader: new BrokerId(2))));
        Assert.False(QuorumController.IsUncleanElection(image, new PartitionChangeRecord(id, 0, Leader: BrokerId.None)));
        Assert.False(QuorumController.IsUncleanElection(image, new PartitionChangeRecord(id, 0, Isr: ValueList.Brokers(1))));
        MetadataImage shrunk = image.Replay(new PartitionChangeRecord(id, 0, Isr: ValueList.Brokers(1)));
        Assert.True(QuorumController.IsUncleanElection(shrunk, new PartitionChangeRecord(id, 0, Leader: new BrokerId(2), Isr: ValueList.Brokers(2))));
    }
}
