using Kraft.Broker.Replication;

namespace Kraft.Broker.Tests.Replication;

public class LeaderPartitionStateTests
{
    private static readonly ReplicationConfig Config = new() { ReplicaLagTimeMaxMs = 1000 };

    private static LeaderPartitionState Leader(long logEnd = 10, long hw = 10, int[]? isr = null) =>
        new(1, leaderEpoch: 5, partitionEpoch: 7, replicas: [1, 2, 3], isr: isr ?? [1, 2, 3], logEnd, hw, nowMs: 0, Config);

    [Fact]
    public void The_high_watermark_is_the_smallest_log_end_offset_in_the_isr()
    {
        var leader = Leader();
        leader.OnLocalAppend(20, 1);
        Assert.Null(leader.OnFollowerFetch(2, 20, 2).NewHighWatermark); // 3's position is still unknown
        Assert.Equal(15, leader.OnFollowerFetch(3, 15, 3).NewHighWatermark);
        Assert.Equal(20, leader.OnFollowerFetch(3, 20, 4).NewHighWatermark);
    }

    [Fact]
    public void A_follower_that_stops_catching_up_is_proposed_for_removal_after_the_lag_time()
    {
        var leader = Leader();
        leader.OnFollowerFetch(2, 10, 100);
        leader.OnFollowerFetch(3, 10, 100);
        leader.OnLocalAppend(11, 200);
        leader.OnFollowerFetch(2, 11, 300);
        Assert.Null(leader.OnTick(1000).AlterIsr);
        var alter = leader.OnTick(1201).AlterIsr;
        Assert.NotNull(alter);
        Assert.Equal([1, 2], alter.NewIsr);
        Assert.Equal((5, 7), (alter.LeaderEpoch, alter.PartitionEpoch));
    }

    [Fact]
    public void A_pending_shrink_still_holds_the_high_watermark_back_until_it_commits()
    {
        var leader = Leader();
        leader.OnFollowerFetch(2, 10, 0);
        leader.OnFollowerFetch(3, 10, 0);
        leader.OnLocalAppend(12, 0);
        leader.OnFollowerFetch(2, 12, 1500);
        Assert.NotNull(leader.OnTick(1500).AlterIsr); // 3 lags
        Assert.Equal(10, leader.HighWatermark);        // still waits for 3 (KIP-497 maximal ISR)
        Assert.Equal(12, leader.OnIsrCommitted([1, 2], 8, 1600).NewHighWatermark);
    }

    [Fact]
    public void A_follower_rejoins_once_it_reaches_the_high_watermark_and_this_epochs_start()
    {
        var leader = Leader(logEnd: 10, hw: 8, isr: [1, 2]);
        leader.OnLocalAppend(14, 0);
        Assert.Null(leader.OnFollowerFetch(3, 9, 1).AlterIsr);  // below this epoch's start (10)
        leader.OnFollowerFetch(2, 14, 2);                        // hw -> 14
        Assert.Null(leader.OnFollowerFetch(3, 12, 3).AlterIsr); // below the high watermark
        var alter = leader.OnFollowerFetch(3, 14, 4).AlterIsr;
        Assert.Equal([1, 2, 3], alter!.NewIsr);
    }

    [Fact]
    public void Acks_all_is_refused_below_min_isr_and_reports_a_shrink_after_append()
    {
        var leader = Leader(isr: [1, 2]);
        Assert.Equal(ReplicationError.None, leader.CheckAcksAllAppend(2));
        Assert.Equal(ReplicationError.NotEnoughReplicas, leader.CheckAcksAllAppend(3));
        leader.OnLocalAppend(11, 0);
        Assert.False(leader.CheckRequiredOffset(11, 2).Done);
        leader.OnIsrCommitted([1], 8, 1);
        Assert.Equal((true, ReplicationError.NotEnoughReplicasAfterAppend), leader.CheckRequiredOffset(11, 2));
    }

    [Fact]
    public void The_high_watermark_never_goes_back_and_never_passes_the_leader()
    {
        var leader = Leader(logEnd: 10, hw: 10);
        leader.OnFollowerFetch(2, 3, 0); // a follower far behind cannot pull it back
        Assert.Equal(10, leader.HighWatermark);
        Assert.Throws<InvalidOperationException>(() => leader.OnFollowerFetch(2, 11, 1));
    }

    [Fact]
    public void An_older_isr_update_is_ignored()
    {
        var leader = Leader();
        leader.OnIsrCommitted([1, 2], 9, 0);
        leader.OnIsrCommitted([1, 2, 3], 8, 0);
        Assert.Equal([1, 2], leader.Isr);
    }
}

public class FetchCheckTests
{
    private static (int, long) Epochs(int epoch) => epoch switch
    {
        < 3 => (epoch, 10),
        < 5 => (3, 20),
        5 => (5, 30),
        _ => (-1, -1),
    };

    [Fact]
    public void Stale_and_future_leader_epochs_are_fenced()
    {
        Assert.Equal(ReplicationError.FencedLeaderEpoch, LeaderFetchCheck.Check(5, 4, 0, -1, 0, 30, Epochs).Error);
        Assert.Equal(ReplicationError.UnknownLeaderEpoch, LeaderFetchCheck.Check(5, 6, 0, -1, 0, 30, Epochs).Error);
    }

    [Fact]
    public void A_follower_ahead_in_an_old_epoch_is_told_where_that_epoch_ends()
    {
        var verdict = LeaderFetchCheck.Check(5, 5, fetchOffset: 25, lastFetchedEpoch: 3, 0, 30, Epochs);
        Assert.Equal((3, 20L), verdict.DivergingEpoch);
        var unknown = LeaderFetchCheck.Check(5, 5, fetchOffset: 15, lastFetchedEpoch: 4, 0, 30, Epochs);
        Assert.Equal((3, 20L), unknown.DivergingEpoch);
    }

    [Fact]
    public void A_consistent_fetch_is_accepted_and_an_out_of_range_one_is_refused()
    {
        Assert.Equal(FetchVerdict.Ok, LeaderFetchCheck.Check(5, 5, 18, 3, 0, 30, Epochs));
        Assert.Equal(ReplicationError.OffsetOutOfRange, LeaderFetchCheck.Check(5, 5, 31, -1, 0, 30, Epochs).Error);
        Assert.Equal((5, 30L), LeaderFetchCheck.Check(5, 5, 31, 5, 0, 30, Epochs).DivergingEpoch); // ahead in the current epoch: cut back
        Assert.Equal(ReplicationError.OffsetOutOfRange, LeaderFetchCheck.Check(5, -1, 2, -1, 5, 30, Epochs).Error);
    }

    [Fact]
    public void A_follower_truncates_to_the_smaller_end_of_the_shared_epoch()
    {
        var follower = new FollowerPartitionState(leaderId: 2, leaderEpoch: 5, logEndOffset: 25, lastFetchedEpoch: 3, highWatermark: 12);
        var answer = new FetchAnswer(ReplicationError.None, 15, 0, 30, (3, 20), -1);
        var action = follower.OnFetchResponse(answer, e => e == 3 ? (3, 25) : (-1, -1));
        Assert.Equal(FollowerAction.Truncate(20), action);
    }

    [Fact]
    public void A_follower_without_the_leaders_epoch_cuts_to_its_own_largest_epoch_below()
    {
        var follower = new FollowerPartitionState(2, 5, 25, 4, 12);
        var answer = new FetchAnswer(ReplicationError.None, 15, 0, 30, (3, 20), -1);
        var action = follower.OnFetchResponse(answer, e => (2, 18));
        Assert.Equal(FollowerAction.Truncate(18), action);
    }

    [Fact]
    public void Out_of_range_restarts_at_the_leaders_log_start()
    {
        var follower = new FollowerPartitionState(2, 5, 3, 1, 0);
        var answer = new FetchAnswer(ReplicationError.OffsetOutOfRange, 40, 35, 50, null, -1);
        Assert.Equal(FollowerAction.RestartAt(35), follower.OnFetchResponse(answer, _ => (-1, -1)));
    }
}

public class ReassignmentOnLeaderTests
{
    [Fact]
    public void A_replica_added_in_the_same_epoch_is_tracked_and_can_join_the_isr()
    {
        var leader = new LeaderPartitionState(1, 5, 7, [1, 2], [1, 2], 10, 10, 0, new ReplicationConfig());
        leader.OnFollowerFetch(2, 10, 1);
        Assert.Null(leader.OnFollowerFetch(3, 10, 2).AlterIsr); // not a replica yet: ignored
        leader.OnReplicasChanged([1, 2, 3], 3);                  // reassignment adds replica 3 (leader and epoch unchanged)
        var alter = leader.OnFollowerFetch(3, 10, 4).AlterIsr;
        Assert.NotNull(alter);
        Assert.Equal([1, 2, 3], alter.NewIsr);
    }
}
