using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Tests.Controller;

public class BrokerLifecycleTests
{
    private static BrokerRegistrationRequest Registration(int id, Guid incarnation, string? rack = null) =>
        new(new BrokerId(id), incarnation, [new BrokerEndpoint("PLAINTEXT", "h", 9092, SecurityProtocol.Plaintext)], rack);

    [Fact]
    public void A_new_broker_is_registered_fenced_with_a_new_epoch()
    {
        var h = new ControllerHarness();
        ControllerResult<BrokerRegistrationReply> result = h.Controller.RegisterBroker(Registration(1, Guid.NewGuid(), "r1"), h.NowMs);

        RegisterBrokerRecord record = Assert.IsType<RegisterBrokerRecord>(Assert.Single(result.Records));
        Assert.True(record.Fenced);
        Assert.Equal("r1", record.Rack);
        Assert.Equal(result.Response.BrokerEpoch, record.BrokerEpoch);
        Assert.True(result.Response.Error.IsSuccess);
        h.Run(result);
        Assert.True(h.Image.Broker(new BrokerId(1))!.Fenced);
    }

    [Fact]
    public void The_same_incarnation_registering_again_is_idempotent()
    {
        var h = new ControllerHarness();
        Guid incarnation = Guid.NewGuid();
        long epoch = h.Run(h.Controller.RegisterBroker(Registration(1, incarnation), h.NowMs)).BrokerEpoch;

        ControllerResult<BrokerRegistrationReply> again = h.Controller.RegisterBroker(Registration(1, incarnation), h.NowMs + 10);
        Assert.Empty(again.Records);
        Assert.Equal(epoch, again.Response.BrokerEpoch);
    }

    [Fact]
    public void A_new_incarnation_gets_a_higher_epoch_once_the_old_session_expired_and_the_old_one_is_fenced_first()
    {
        var h = new ControllerHarness();
        long first = h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        h.CreateTopicWithLayout("t", [1, 2]);

        ControllerResult<BrokerRegistrationReply> early = h.Controller.RegisterBroker(Registration(1, Guid.NewGuid()), h.NowMs + 100);
        Assert.Equal(ControllerErrorCode.DuplicateBrokerRegistration, early.Response.Error.Code);
        Assert.Empty(early.Records);

        h.NowMs += 9_001;
        h.Heartbeat(2);
        ControllerResult<BrokerRegistrationReply> late = h.Controller.RegisterBroker(Registration(1, Guid.NewGuid()), h.NowMs);
        Assert.True(late.Response.BrokerEpoch > first);
        h.Run(late);
        Assert.True(h.Image.Broker(new BrokerId(1))!.Fenced);
        Assert.Equal(new BrokerId(2), h.Partition("t", 0).Leader);
    }

    [Fact]
    public void A_heartbeat_with_a_stale_broker_epoch_is_refused()
    {
        var h = new ControllerHarness();
        long epoch = h.AddLiveBroker(1);
        ControllerResult<BrokerHeartbeatReply> result = h.Controller.BrokerHeartbeat(new BrokerHeartbeatRequest(new BrokerId(1), epoch - 1, 100), h.NowMs);
        Assert.Equal(ControllerErrorCode.StaleBrokerEpoch, result.Response.Error.Code);
        Assert.Empty(result.Records);
        Assert.Equal(ControllerErrorCode.BrokerIdNotRegistered,
            h.Controller.BrokerHeartbeat(new BrokerHeartbeatRequest(new BrokerId(7), 1, 100), h.NowMs).Response.Error.Code);
    }

    [Fact]
    public void A_broker_is_unfenced_only_after_its_metadata_offset_reaches_its_registration()
    {
        var h = new ControllerHarness();
        h.Run(h.Controller.RegisterBroker(Registration(9, Guid.NewGuid()), h.NowMs)); // offset 0
        BrokerRegistrationReply reg = h.Run(h.Controller.RegisterBroker(Registration(1, Guid.NewGuid()), h.NowMs)); // offset 1

        ControllerResult<BrokerHeartbeatReply> behind = h.Controller.BrokerHeartbeat(new BrokerHeartbeatRequest(new BrokerId(1), reg.BrokerEpoch, 0), h.NowMs);
        Assert.Empty(behind.Records);
        Assert.False(behind.Response.IsCaughtUp);
        Assert.True(behind.Response.IsFenced);

        ControllerResult<BrokerHeartbeatReply> caughtUp = h.Controller.BrokerHeartbeat(new BrokerHeartbeatRequest(new BrokerId(1), reg.BrokerEpoch, 1), h.NowMs);
        Assert.IsType<UnfenceBrokerRecord>(Assert.Single(caughtUp.Records));
        Assert.True(caughtUp.Response.IsCaughtUp);
        Assert.False(caughtUp.Response.IsFenced);
    }

    [Fact]
    public void A_registration_not_yet_committed_does_not_count_as_caught_up()
    {
        var h = new ControllerHarness();
        BrokerRegistrationReply reg = h.Propose(h.Controller.RegisterBroker(Registration(1, Guid.NewGuid()), h.NowMs));
        ControllerResult<BrokerHeartbeatReply> beat = h.Controller.BrokerHeartbeat(new BrokerHeartbeatRequest(new BrokerId(1), reg.BrokerEpoch, 1_000), h.NowMs);
        Assert.False(beat.Response.IsCaughtUp);
        Assert.Empty(beat.Records);
    }

    [Fact]
    public void Tick_fences_a_broker_after_the_session_timeout_and_elects_the_next_isr_member()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        h.AddLiveBroker(3);
        h.CreateTopicWithLayout("t", [1, 2, 3]);
        PartitionRegistration before = h.Partition("t", 0);

        h.NowMs += 9_000;
        h.HeartbeatAllBut(1);
        ControllerResult<TickReport> atTimeout = h.Controller.Tick(h.NowMs);
        Assert.Empty(atTimeout.Records); // exactly 9000 ms is still within the session

        h.NowMs += 1;
        TickReport report = h.Run(h.Controller.Tick(h.NowMs));
        Assert.Equal([new BrokerId(1)], report.FencedBrokers);
        Assert.True(h.Image.Broker(new BrokerId(1))!.Fenced);
        PartitionRegistration after = h.Partition("t", 0);
        Assert.Equal(new BrokerId(2), after.Leader);
        Assert.Equal(ValueList.Brokers(2, 3), after.Isr);
        Assert.Equal(before.LeaderEpoch + 1, after.LeaderEpoch);
        Assert.Equal(before.PartitionEpoch + 1, after.PartitionEpoch);
    }

    [Fact]
    public void Fencing_the_last_isr_member_takes_the_partition_offline_and_unfencing_brings_it_back()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        TopicId id = h.CreateTopicWithLayout("t", [1, 2]);
        PartitionRegistration p = h.Partition("t", 0);
        h.Run(h.Controller.AlterPartition(new AlterPartitionRequest(new BrokerId(1), h.EpochOf(1), [new AlterPartitionItem(id, 0, p.LeaderEpoch, [new BrokerId(1)], p.PartitionEpoch)]), h.NowMs));

        h.NowMs += 9_001;
        h.HeartbeatAllBut(1);
        h.Run(h.Controller.Tick(h.NowMs));
        PartitionRegistration offline = h.Partition("t", 0);
        Assert.Equal(BrokerId.None, offline.Leader);
        Assert.Equal(ValueList.Brokers(1), offline.Isr);

        // Broker 1 comes back with the same incarnation: it heartbeats, catches up, is unfenced and leads again.
        h.Heartbeat(1);
        PartitionRegistration back = h.Partition("t", 0);
        Assert.Equal(new BrokerId(1), back.Leader);
        Assert.Equal(offline.LeaderEpoch + 1, back.LeaderEpoch);
    }

    [Fact]
    public void Controlled_shutdown_moves_leadership_leaves_isrs_and_then_allows_shutdown()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        h.AddLiveBroker(3);
        h.CreateTopicWithLayout("t", [1, 2, 3], [2, 1, 3], [3, 2, 1]);

        BrokerHeartbeatReply reply = h.Heartbeat(1, wantShutDown: true);

        Assert.True(reply.ShouldShutDown);
        Assert.True(h.Image.Broker(new BrokerId(1))!.Fenced);
        Assert.DoesNotContain(h.Image.AllPartitions(), x => x.Registration.Leader == new BrokerId(1));
        Assert.DoesNotContain(h.Image.AllPartitions(), x => x.Registration.Isr.Contains(new BrokerId(1)));
        Assert.Equal(new BrokerId(2), h.Partition("t", 0).Leader);
        Assert.Equal(new BrokerId(2), h.Partition("t", 1).Leader);
        Assert.Equal(new BrokerId(3), h.Partition("t", 2).Leader);

        // While it is shutting down it is not unfenced again, and it may not rejoin an ISR.
        BrokerHeartbeatReply again = h.Heartbeat(1, wantShutDown: true);
        Assert.True(again.ShouldShutDown);
        Assert.True(h.Image.Broker(new BrokerId(1))!.Fenced);
    }

    [Fact]
    public void Controlled_shutdown_of_a_sole_isr_member_leaves_the_partition_leaderless_rather_than_unclean()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        TopicId id = h.CreateTopicWithLayout("t", [1, 2]);
        PartitionRegistration p = h.Partition("t", 0);
        h.Run(h.Controller.AlterPartition(new AlterPartitionRequest(new BrokerId(1), h.EpochOf(1), [new AlterPartitionItem(id, 0, p.LeaderEpoch, [new BrokerId(1)], p.PartitionEpoch)]), h.NowMs));

        BrokerHeartbeatReply reply = h.Heartbeat(1, wantShutDown: true);
        Assert.True(reply.ShouldShutDown);
        Assert.Equal(BrokerId.None, h.Partition("t", 0).Leader);
        Assert.Equal(ValueList.Brokers(1), h.Partition("t", 0).Isr);
    }

    [Fact]
    public void Producer_id_blocks_are_consecutive_and_a_thousand_long()
    {
        var h = new ControllerHarness();
        long e1 = h.AddLiveBroker(1);
        long e2 = h.AddLiveBroker(2);
        AllocateProducerIdsReply a = h.Run(h.Controller.AllocateProducerIds(new AllocateProducerIdsRequest(new BrokerId(1), e1), h.NowMs));
        AllocateProducerIdsReply b = h.Run(h.Controller.AllocateProducerIds(new AllocateProducerIdsRequest(new BrokerId(2), e2), h.NowMs));
        Assert.Equal((0L, 1000), (a.ProducerIdStart, a.ProducerIdLen));
        Assert.Equal((1000L, 1000), (b.ProducerIdStart, b.ProducerIdLen));
        Assert.Equal(2000, h.Image.NextProducerId);
        ControllerResult<AllocateProducerIdsReply> stale = h.Controller.AllocateProducerIds(new AllocateProducerIdsRequest(new BrokerId(1), e1 + 100), h.NowMs);
        Assert.Equal(ControllerErrorCode.StaleBrokerEpoch, stale.Response.Error.Code);
        Assert.Empty(stale.Records);
    }

    [Fact]
    public void Unregistering_a_leader_moves_leadership_first()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        h.CreateTopicWithLayout("t", [1, 2]);
        Assert.True(h.Run(h.Controller.UnregisterBroker(new BrokerId(1), h.NowMs)).IsSuccess);
        Assert.Null(h.Image.Broker(new BrokerId(1)));
        Assert.Equal(new BrokerId(2), h.Partition("t", 0).Leader);
    }
}
