using Kraft.Quorum.Raft;

namespace Kraft.Quorum.Tests.Raft;

public class ElectionTests
{
    [Fact]
    public void Single_voter_elects_itself_and_commits_once_its_own_write_is_durable()
    {
        var c = new TestCluster(voters: 1);
        c.Tick(1, 10);
        Assert.Equal(RaftRole.Leader, c[1].Role);
        Assert.Equal(1, c[1].Epoch);
        var result = c[1].Propose([[1, 2, 3]]);
        Assert.Equal(ProposeStatus.Accepted, result.Status);
        Assert.Equal(1, result.LastOffset); // offset 0 is the LeaderChange entry
        c.Drain(1);
        Assert.Equal(2, c[1].HighWatermark);
        Assert.Equal([LogEntryKind.LeaderChange, LogEntryKind.Data], c.Applied[1].Select(e => e.Kind));
    }

    [Fact]
    public void Three_voters_elect_one_leader_that_commits_on_every_node()
    {
        var c = new TestCluster(voters: 3);
        c.Elect(1);
        Assert.All(new[] { 2, 3 }, id => Assert.Equal(RaftRole.Follower, c[id].Role));
        Assert.All(new[] { 2, 3 }, id => Assert.Equal(new NodeId(1), c[id].LeaderId));
        c[1].Propose([[42]]);
        c.Drain(1);
        c.TickAll(600); // parked fetches return within FetchMaxWaitMs, then carry the new high watermark
        Assert.All(c.Nodes.Values, n => Assert.Equal(2, n.HighWatermark));
        Assert.All(c.Nodes.Keys, id => Assert.Equal(2, c.Applied[id].Count));
    }

    [Fact]
    public void Vote_grant_is_made_durable_in_the_same_bundle_that_sends_the_grant()
    {
        var c = new TestCluster(voters: 3);
        c.Readies.Clear();
        c[2].Step(new VoteRequest(new NodeId(1), new NodeId(2), 7, CandidateEpoch: 1, LastOffsetEpoch: 0, LastOffset: 0, PreVote: false));
        var ready = c[2].GetReady();
        Assert.Equal(new PersistentQuorumState(1, new NodeId(1), null), ready.QuorumState);
        var response = Assert.IsType<VoteResponse>(Assert.Single(ready.Messages));
        Assert.True(response.VoteGranted);
        Assert.Equal(7, response.CorrelationId);
        c[2].Advance(ready);
    }

    [Fact]
    public void A_voter_never_votes_for_two_candidates_in_one_epoch()
    {
        var c = new TestCluster(voters: 3);
        c[2].Step(new VoteRequest(new NodeId(1), new NodeId(2), 1, 1, 0, 0, false));
        c.Drain(2);
        c[2].Step(new VoteRequest(new NodeId(3), new NodeId(2), 2, 1, 0, 0, false));
        c.Drain(2);
        var responses = c.Take<VoteResponse>();
        Assert.True(responses[0].VoteGranted);
        Assert.False(responses[1].VoteGranted);
        Assert.Equal(new NodeId(1), c[2].VotedFor);
    }

    [Fact]
    public void Vote_is_refused_to_a_candidate_whose_log_is_behind()
    {
        var c = new TestCluster(voters: 3, recovered: id => id == 2 ? TestCluster.Log(2, TestCluster.Range(0, 5, 2)) : RecoveredState.Empty);
        // Same last epoch, shorter log.
        c[2].Step(new VoteRequest(new NodeId(1), new NodeId(2), 1, 3, LastOffsetEpoch: 2, LastOffset: 4, PreVote: false));
        // Older last epoch, longer log.
        c[2].Step(new VoteRequest(new NodeId(3), new NodeId(2), 2, 3, LastOffsetEpoch: 1, LastOffset: 9, PreVote: false));
        c.Drain(2);
        Assert.All(c.Take<VoteResponse>(), r => Assert.False(r.VoteGranted));
        Assert.Null(c[2].VotedFor);
        Assert.Equal(3, c[2].Epoch); // the newer epoch is adopted even without granting
    }

    [Fact]
    public void Pre_vote_is_refused_by_a_follower_that_still_hears_from_its_leader()
    {
        var c = new TestCluster(voters: 3);
        c.Elect(1);
        int epoch = c[1].Epoch;
        // Node 3 loses its link to the leader only; node 2 keeps fetching.
        c.Drop = m => (m.From.Value == 3 && m.To.Value == 1) || (m.From.Value == 1 && m.To.Value == 3);
        c.TickAll(TestCluster.FetchTimeoutMs + 3 * TestCluster.ElectionTimeoutMs);
        Assert.Equal(RaftRole.Leader, c[1].Role);
        Assert.Equal(epoch, c[1].Epoch);
        Assert.Equal(epoch, c[2].Epoch);
        Assert.Equal(epoch, c[3].Epoch); // node 3 never got past pre-vote, so it did not bump the epoch
        Assert.NotEqual(RaftRole.Candidate, c[3].Role);
    }

    [Fact]
    public void Pre_vote_is_granted_once_the_leader_is_gone_and_a_new_leader_is_elected()
    {
        var c = new TestCluster(voters: 3);
        c.Elect(1);
        int epoch = c[1].Epoch;
        c.Drop = m => m.From.Value == 1 || m.To.Value == 1;
        c.TickAll(TestCluster.FetchTimeoutMs + 4 * TestCluster.ElectionTimeoutMs);
        var newLeaders = new[] { 2, 3 }.Where(id => c[id].Role == RaftRole.Leader).ToList();
        Assert.Single(newLeaders);
        Assert.True(c[newLeaders[0]].Epoch > epoch);
    }

    [Fact]
    public void A_leader_that_hears_from_no_majority_resigns_after_one_and_a_half_fetch_timeouts()
    {
        var c = new TestCluster(voters: 3);
        c.Elect(1);
        c.Drop = m => m.From.Value == 1 || m.To.Value == 1;
        c.Tick(1, TestCluster.FetchTimeoutMs * 3 / 2 - 20);
        Assert.Equal(RaftRole.Leader, c[1].Role);
        c.InFlight.Clear();
        c.Tick(1, 40);
        Assert.Equal(RaftRole.Resigned, c[1].Role);
        Assert.Equal(ProposeStatus.NotLeader, c[1].Propose([[1]]).Status);
        Assert.Equal(2, c.Take<EndQuorumEpochRequest>().Count);
    }

    [Fact]
    public void Graceful_resignation_lets_the_preferred_successor_win_quickly()
    {
        var c = new TestCluster(voters: 3);
        c.Elect(1);
        int epoch = c[1].Epoch;
        Assert.True(c[1].Resign());
        c.Drain(1);
        Assert.Equal(RaftRole.Resigned, c[1].Role);
        c.DeliverAll();
        Assert.All(new[] { 2, 3 }, id => Assert.Equal(RaftRole.Unattached, c[id].Role));
        // Well before a plain election timeout (1000 ms + jitter), a successor leads the next epoch.
        c.TickAll(300);
        Assert.Single(c.Nodes.Values, n => n.Role == RaftRole.Leader);
        Assert.Equal(epoch + 1, c.Nodes.Values.Single(n => n.Role == RaftRole.Leader).Epoch);
        Assert.Equal(RaftRole.Follower, c[1].Role);
    }

    [Fact]
    public void A_node_that_was_leader_restarts_as_resigned_and_never_leads_that_epoch_again()
    {
        var node = new RaftNode(TestCluster.Options(1, [new(1), new(2), new(3)]),
            new RecoveredState(new PersistentQuorumState(4, new NodeId(1), new NodeId(1)), null, []), new SplitMix64Random(1));
        Assert.Equal(RaftRole.Resigned, node.Role);
        Assert.Equal(4, node.Epoch);
        Assert.Equal(ProposeStatus.NotLeader, node.Propose([[1]]).Status);
    }

    [Fact]
    public void Observers_never_vote()
    {
        var c = new TestCluster(voters: 3, observers: 1);
        c[4].Step(new VoteRequest(new NodeId(1), new NodeId(4), 1, 1, 0, 0, false));
        c[4].Step(new VoteRequest(new NodeId(1), new NodeId(4), 2, 1, 0, 0, true));
        c.Drain(4);
        Assert.All(c.Take<VoteResponse>(), r => Assert.False(r.VoteGranted));
        c.Tick(4, 10 * TestCluster.ElectionTimeoutMs);
        Assert.Equal(RaftRole.Unattached, c[4].Role);
        Assert.Empty(c.InFlight.OfType<VoteRequest>());
    }

    [Fact]
    public void A_durable_vote_is_kept_across_a_restart()
    {
        var voters = new NodeId[] { new(1), new(2), new(3) };
        var node = new RaftNode(TestCluster.Options(2, voters), RecoveredState.Empty, new SplitMix64Random(1));
        node.Advance(node.GetReady());
        node.Step(new VoteRequest(new NodeId(1), new NodeId(2), 1, 5, 0, 0, false));
        var ready = node.GetReady();
        var durable = ready.QuorumState!;
        node.Advance(ready);

        // The process restarts from what the driver wrote.
        var restarted = new RaftNode(TestCluster.Options(2, voters), new RecoveredState(durable, null, []), new SplitMix64Random(2));
        restarted.Advance(restarted.GetReady());
        restarted.Step(new VoteRequest(new NodeId(3), new NodeId(2), 1, 5, 0, 0, false));
        var again = restarted.GetReady();
        Assert.False(Assert.IsType<VoteResponse>(Assert.Single(again.Messages)).VoteGranted);
        Assert.Null(again.QuorumState);
        Assert.Equal(new NodeId(1), restarted.VotedFor);
    }

    [Fact]
    public void A_voter_stuck_in_a_newer_epoch_pulls_the_quorum_forward_with_its_pre_vote()
    {
        var c = new TestCluster(voters: 3);
        c.Elect(1);
        int epoch = c[1].Epoch;
        // Node 3 reached epoch + 5 on its own (an election nobody else heard of) and has a short log.
        c[1].Step(new VoteRequest(new NodeId(3), new NodeId(1), 99, epoch + 6, 0, 0, PreVote: true));
        c.Drain(1);
        Assert.Equal(epoch + 5, c[1].Epoch);
        Assert.Equal(RaftRole.Unattached, c[1].Role);
        Assert.False(c.Take<VoteResponse>().Single(r => r.To.Value == 3).VoteGranted);
    }
}
