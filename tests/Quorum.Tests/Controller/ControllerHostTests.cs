using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Tests.Controller;

/// <summary>The node-side rules around the controller (activation, rollback, failed proposals), as ControllerService and the simulator run them.</summary>
public class ControllerHostTests
{
    private static readonly byte[] NoPayload = [];

    private static ControllerResult<IReadOnlyList<CreateTopicResult>> CreateTopic(QuorumController c, long now, string name) =>
        c.CreateTopics(new CreateTopicsRequest([new CreatableTopic(name, 1, 1)]), now);

    private static ControllerHost LeaderOfEpoch2()
    {
        var host = new ControllerHost(new ControllerConfig(), MetadataImage.Empty);
        host.ApplyCommitted(MetadataRecordCodec.EncodeBatch([new RegisterBrokerRecord(new BrokerId(1), Guid.NewGuid(), 1, ValueList<BrokerEndpoint>.Empty, null, Fenced: false)]), false, 0, 1, 0);
        host.OnRoleChange(leading: true, epoch: 2);
        Assert.True(host.ApplyCommitted(NoPayload, isLeaderChange: true, 1, 2, 0).Activated);
        return host;
    }

    [Fact]
    public void The_controller_activates_only_when_the_LeaderChange_entry_of_its_own_epoch_commits()
    {
        var host = new ControllerHost(new ControllerConfig(), MetadataImage.Empty);
        host.OnRoleChange(leading: true, epoch: 3);
        Assert.False(host.IsActive);
        Assert.Null(host.Decide((c, now) => CreateTopic(c, now, "t"), 0));

        // The previous epoch's marker commits first: entries of epoch 2 may still follow, so not yet.
        Assert.False(host.ApplyCommitted(NoPayload, isLeaderChange: true, 0, 2, 0).Activated);
        Assert.False(host.IsActive);
        Assert.True(host.ApplyCommitted(NoPayload, isLeaderChange: true, 1, 3, 0).Activated);
        Assert.True(host.IsActive);
        Assert.Equal(3, host.Controller.LeaderEpoch);
    }

    [Fact]
    public void The_activation_starts_the_previous_leaders_broker_session_at_the_last_contact_given_on_election()
    {
        var config = new ControllerConfig();
        var host = new ControllerHost(config, MetadataImage.Empty);
        host.ApplyCommitted(MetadataRecordCodec.EncodeBatch([new RegisterBrokerRecord(new BrokerId(1), Guid.NewGuid(), 1, ValueList<BrokerEndpoint>.Empty, null, Fenced: false)]), false, 0, 1, 0);
        host.OnRoleChange(leading: true, epoch: 2, nowMs: 1_000, previousLeaderContact: new BrokerContact(new BrokerId(1), LastContactMs: 0));
        Assert.True(host.ApplyCommitted(NoPayload, isLeaderChange: true, 1, 2, 1_000).Activated);

        // Fenced one session timeout after the contact, not after the activation at 1,000 ms.
        long at = config.BrokerSessionTimeoutMs + 1;
        Assert.Contains(host.Decide((c, now) => c.Tick(now), at)!.Records, r => r is FenceBrokerRecord { BrokerId.Value: 1 });
    }

    [Fact]
    public void Losing_leadership_rolls_back_the_uncommitted_operation_and_refuses_new_ones()
    {
        ControllerHost host = LeaderOfEpoch2();
        ControllerResult<IReadOnlyList<CreateTopicResult>>? created = host.Decide((c, now) => CreateTopic(c, now, "t"), 0);
        Assert.NotNull(created);
        Assert.NotEmpty(created.Records);
        Assert.NotNull(host.Controller.LatestImage.Topic("t"));

        Assert.True(host.OnRoleChange(leading: false, epoch: 3));

        Assert.False(host.IsActive);
        Assert.Null(host.Controller.LatestImage.Topic("t"));
        Assert.Null(host.Decide((c, now) => CreateTopic(c, now, "t"), 0));
    }

    [Fact]
    public void A_failed_proposal_is_rolled_back_and_the_controller_stays_active_only_while_it_leads_its_epoch()
    {
        ControllerHost host = LeaderOfEpoch2();
        host.Decide((c, now) => CreateTopic(c, now, "t"), 0);
        host.OnProposalFailed(0);
        Assert.True(host.IsActive);
        Assert.Equal(0, host.Controller.PendingBatchCount);
        Assert.Null(host.Controller.LatestImage.Topic("t"));

        host.Decide((c, now) => CreateTopic(c, now, "u"), 0);
        host.OnRoleChange(leading: false, epoch: 2);
        host.OnProposalFailed(0);
        Assert.False(host.IsActive);
    }

    [Fact]
    public void The_unsafe_switch_activates_on_election_before_the_epoch_commits()
    {
        var host = new ControllerHost(new ControllerConfig(), MetadataImage.Empty) { UnsafeActivateOnElection = true };
        host.OnRoleChange(leading: true, epoch: 5);
        Assert.True(host.IsActive);
    }
}
