namespace Kraft.Simulation;

/// <summary>Feeds the checker traces that break each invariant and requires it to report them.</summary>
public class SafetyCheckerTests
{
    [Fact]
    public void Two_leaders_in_one_epoch_are_reported()
    {
        var c = new SafetyChecker();
        c.ObserveLeader(1, 5);
        c.ObserveLeader(1, 5);
        Assert.Empty(c.Violations);
        c.ObserveLeader(2, 5);
        Assert.Contains("two leaders in epoch 5", Assert.Single(c.Violations));
    }

    [Fact]
    public void A_high_watermark_going_back_within_a_run_is_reported_but_a_restart_may_start_lower()
    {
        var c = new SafetyChecker();
        c.ObserveHighWatermark(1, incarnation: 1, 10);
        c.ObserveHighWatermark(1, incarnation: 2, 4); // restarted at its snapshot's end offset
        Assert.Empty(c.Violations);
        c.ObserveHighWatermark(1, incarnation: 2, 3);
        Assert.Contains("high watermark went back", Assert.Single(c.Violations));
    }

    [Fact]
    public void An_epoch_going_back_is_reported_within_a_run_and_below_the_durable_epoch()
    {
        var c = new SafetyChecker();
        c.ObserveEpoch(1, 1, 3);
        c.ObserveEpoch(1, 1, 2);
        Assert.Single(c.Violations);
        c.ObserveDurableQuorumState(2, 7, null);
        c.ObserveEpoch(2, 2, 6);
        Assert.Equal(2, c.Violations.Count);
    }

    [Fact]
    public void An_applied_offset_going_back_or_diverging_state_is_reported()
    {
        var c = new SafetyChecker();
        c.ObserveApplied(1, 1, 5, 0xAA);
        c.ObserveApplied(1, 1, 4, 0xBB);
        Assert.Contains("applied offset went back", Assert.Single(c.Violations));
        c.ObserveApplied(2, 1, 5, 0xCC);
        Assert.Contains("differs", c.Violations[1]);
    }

    [Fact]
    public void A_committed_entry_that_changes_is_reported()
    {
        var c = new SafetyChecker();
        c.ObserveCommittedEntry(1, 7, epoch: 2, payloadHash: 100, nodeEpoch: 2);
        c.ObserveCommittedEntry(2, 7, epoch: 2, payloadHash: 100, nodeEpoch: 2);
        Assert.Empty(c.Violations);
        c.ObserveCommittedEntry(3, 7, epoch: 3, payloadHash: 100, nodeEpoch: 3);
        c.ObserveCommittedEntry(3, 7, epoch: 2, payloadHash: 101, nodeEpoch: 3);
        Assert.Equal(2, c.Violations.Count);
    }

    [Fact]
    public void A_new_leader_missing_a_committed_entry_is_reported()
    {
        var c = new SafetyChecker();
        c.ObserveHighWatermark(1, 1, 3);
        for (long o = 0; o < 3; o++) c.ObserveCommittedEntry(1, o, 1, (ulong)o, nodeEpoch: 1);
        c.ObserveNewLeaderLog(2, 2, 0, o => o < 2 ? (1, (ulong)o) : null);
        Assert.Contains("lacks committed entry at offset 2", Assert.Single(c.Violations));
        c.ObserveNewLeaderLog(3, 3, 0, o => (1, (ulong)o));
        Assert.Single(c.Violations);
        // A leader of an epoch older than the commit need not hold the entry.
        c.ObserveCommittedEntry(1, 3, 5, 3, nodeEpoch: 5);
        c.ObserveNewLeaderLog(4, 4, 0, o => o < 3 ? (1, (ulong)o) : null);
        Assert.Single(c.Violations);
    }

    [Fact]
    public void A_changed_durable_vote_or_a_second_grant_in_one_epoch_is_reported()
    {
        var c = new SafetyChecker();
        c.ObserveDurableQuorumState(1, 4, null);
        c.ObserveDurableQuorumState(1, 4, 2);
        c.ObserveDurableQuorumState(1, 4, 2);
        Assert.Empty(c.Violations);
        c.ObserveDurableQuorumState(1, 4, 3);
        Assert.Contains("changed its durable vote", Assert.Single(c.Violations));
        c.ObserveVoteGranted(5, 9, 1);
        c.ObserveVoteGranted(5, 9, 1);
        c.ObserveVoteGranted(5, 9, 2);
        Assert.Contains("voted twice in epoch 9", c.Violations[1]);
        c.ObserveDurableQuorumState(1, 3, null);
        Assert.Contains("durable epoch went back", c.Violations[2]);
    }
}
