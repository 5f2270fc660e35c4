using Kraft.Broker.Groups;

namespace Kraft.Broker.Tests.Groups;

public class GroupMembershipTests
{
    [Fact]
    public void New_dynamic_member_with_v4_gets_MEMBER_ID_REQUIRED_and_then_joins()
    {
        var h = new GroupHarness();
        var (_, first) = h.Join(GroupHarness.JoinRequest());
        Assert.False(first.IsPending);
        Assert.Equal(GroupErrorCode.MEMBER_ID_REQUIRED, first.Response.ErrorCode);
        Assert.StartsWith("client-", first.Response.MemberId);
        Assert.Equal(GroupState.Empty, h.Group().State);
        Assert.Contains(first.Response.MemberId, h.Group().PendingMemberIds);

        var (token, second) = h.Join(GroupHarness.JoinRequest(first.Response.MemberId));
        Assert.True(second.IsPending);
        Assert.Equal(GroupState.PreparingRebalance, h.Group().State);
        h.Tick(2_999);
        Assert.False(h.Joins.ContainsKey(token));
        h.Tick(3_000); // group.initial.rebalance.delay.ms
        var join = h.Joins[token];
        Assert.Equal(GroupErrorCode.NONE, join.ErrorCode);
        Assert.Equal(1, join.GenerationId);
        Assert.Equal(first.Response.MemberId, join.Leader);
        Assert.Equal("range", join.ProtocolName);
        Assert.Single(join.Members);
        Assert.Equal(GroupState.CompletingRebalance, h.Group().State);
    }

    [Fact]
    public void Old_client_below_v4_joins_without_MEMBER_ID_REQUIRED()
    {
        var h = new GroupHarness();
        var (_, result) = h.Join(GroupHarness.JoinRequest(version: 3));
        Assert.True(result.IsPending);
        Assert.Single(h.Group().Members);
    }

    [Fact]
    public void Initial_delay_is_extended_while_members_keep_arriving()
    {
        var h = new GroupHarness(new GroupConfig { GroupInitialRebalanceDelayMs = 3_000 });
        var (_, ta) = h.JoinNew();
        for (int i = 1; i <= 5; i++)
        {
            h.Tick(i * 3_000 - 1);
            h.JoinNew(); // a newcomer in every delay window
            h.Tick(i * 3_000);
        }
        // Five windows had newcomers; the sixth has none and ends the join phase.
        Assert.False(h.Joins.ContainsKey(ta));
        h.Tick(17_999);
        Assert.False(h.Joins.ContainsKey(ta));
        h.Tick(18_000);
        Assert.Equal(GroupErrorCode.NONE, h.Joins[ta].ErrorCode);
        Assert.Equal(6, h.Joins[ta].Members.Count);
    }

    [Fact]
    public void Initial_delay_extensions_are_bounded_by_the_rebalance_timeout()
    {
        var h = new GroupHarness(new GroupConfig { GroupInitialRebalanceDelayMs = 3_000 });
        var (_, ta) = h.JoinNew(); // rebalance timeout 30 s
        for (long t = 1_000; !h.Joins.ContainsKey(ta); t += 1_000)
        {
            h.Tick(t);
            if (!h.Joins.ContainsKey(ta)) h.JoinNew();
            Assert.True(t <= 30_000, "the first rebalance must end within the rebalance timeout");
        }
        Assert.Equal(GroupErrorCode.NONE, h.Joins[ta].ErrorCode);
        Assert.Equal(30_000, h.NowMs);
    }

    [Fact]
    public void Leader_gets_all_members_metadata_and_followers_get_none()
    {
        var h = new GroupHarness();
        var (a, ta) = h.JoinNew("g", ("range", 7));
        var (b, tb) = h.JoinNew("g", ("range", 8));
        h.Tick(3_000);
        h.Tick(6_000);
        var leader = h.Joins[ta];
        var follower = h.Joins[tb];
        Assert.Equal(a, leader.Leader);
        Assert.Equal(a, follower.Leader);
        Assert.Equal(2, leader.Members.Count);
        Assert.Equal([7], leader.Members.Single(m => m.MemberId == a).Metadata);
        Assert.Equal([8], leader.Members.Single(m => m.MemberId == b).Metadata);
        Assert.Empty(follower.Members);
        Assert.Equal(leader.GenerationId, follower.GenerationId);
    }

    [Fact]
    public void Protocol_is_chosen_by_vote_among_protocols_all_members_support()
    {
        var h = new GroupHarness();
        var (_, ta) = h.JoinNew("g", ("range", 1), ("roundrobin", 1), ("sticky", 1));
        h.JoinNew("g", ("roundrobin", 1), ("range", 1));
        h.JoinNew("g", ("sticky", 1), ("roundrobin", 1), ("range", 1));
        h.Tick(3_000);
        h.Tick(6_000);
        // sticky is not supported by member 2; votes: range 1, roundrobin 2.
        Assert.Equal("roundrobin", h.Joins[ta].ProtocolName);
    }

    [Fact]
    public void Follower_sync_waits_for_leader_and_gets_its_assignment()
    {
        var h = new GroupHarness();
        var (a, ta) = h.JoinNew();
        var (b, _) = h.JoinNew();
        h.Tick(3_000);
        h.Tick(6_000);
        int gen = h.Joins[ta].GenerationId;
        var (followerToken, followerSync) = h.Sync(b, gen);
        Assert.True(followerSync.IsPending);
        var (_, leaderSync) = h.Sync(a, gen, "g", null, (a, 10), (b, 20));
        Assert.False(leaderSync.IsPending);
        Assert.Equal([10], leaderSync.Response.Assignment);
        Assert.Equal([20], h.Syncs[followerToken].Assignment);
        Assert.Equal(GroupState.Stable, h.Group().State);
        var record = Assert.IsType<GroupMetadataRecord>(h.Log.Last());
        Assert.Equal(gen, record.Value!.Generation);
        Assert.Equal(a, record.Value.Leader);
        Assert.Equal([20], record.Value.Members.Single(m => m.MemberId == b).Assignment);
        // Later syncs in Stable answer at once with the stored assignment.
        Assert.Equal([20], h.Sync(b, gen).Result.Response.Assignment);
    }

    [Fact]
    public void Sync_errors_follow_Kafka()
    {
        var h = new GroupHarness();
        var (leader, follower, gen) = h.StableGroupOfTwo();
        Assert.Equal(GroupErrorCode.ILLEGAL_GENERATION, h.Sync(follower, gen + 1).Result.Response.ErrorCode);
        Assert.Equal(GroupErrorCode.UNKNOWN_MEMBER_ID, h.Sync("nobody", gen).Result.Response.ErrorCode);
        Assert.Equal(GroupErrorCode.UNKNOWN_MEMBER_ID, h.Sync(follower, gen, "other-group").Result.Response.ErrorCode);
        Assert.Equal(GroupErrorCode.INVALID_GROUP_ID, h.Sync(follower, gen, "").Result.Response.ErrorCode);
        h.JoinNew(); // a third member starts a rebalance
        Assert.Equal(GroupState.PreparingRebalance, h.Group().State);
        Assert.Equal(GroupErrorCode.REBALANCE_IN_PROGRESS, h.Sync(follower, gen).Result.Response.ErrorCode);
        Assert.Equal(GroupErrorCode.REBALANCE_IN_PROGRESS, h.Heartbeat(leader, gen));
    }

    [Fact]
    public void Waiting_sync_is_answered_REBALANCE_IN_PROGRESS_when_a_member_joins_during_CompletingRebalance()
    {
        var h = new GroupHarness();
        var (a, ta) = h.JoinNew();
        var (b, _) = h.JoinNew();
        h.Tick(3_000);
        h.Tick(6_000);
        var (syncToken, sync) = h.Sync(b, h.Joins[ta].GenerationId);
        Assert.True(sync.IsPending);
        h.JoinNew();
        Assert.Equal(GroupErrorCode.REBALANCE_IN_PROGRESS, h.Syncs[syncToken].ErrorCode);
        Assert.Equal(GroupState.PreparingRebalance, h.Group().State);
    }

    [Fact]
    public void Rebalance_completes_as_soon_as_all_known_members_rejoined()
    {
        var h = new GroupHarness();
        var (leader, follower, gen) = h.StableGroupOfTwo();
        h.NowMs = 7_000;
        var (leaderJoin, pending) = h.Join(GroupHarness.JoinRequest(leader));
        Assert.True(pending.IsPending);
        Assert.Equal(GroupState.PreparingRebalance, h.Group().State);
        Assert.Equal(GroupErrorCode.REBALANCE_IN_PROGRESS, h.Heartbeat(follower, gen));
        var (followerJoin, _) = h.Join(GroupHarness.JoinRequest(follower));
        Assert.Equal(gen + 1, h.Joins[leaderJoin].GenerationId);
        Assert.Equal(gen + 1, h.Joins[followerJoin].GenerationId);
        Assert.Equal(GroupState.CompletingRebalance, h.Group().State);
    }

    [Fact]
    public void Member_that_does_not_rejoin_within_rebalance_timeout_is_evicted()
    {
        var h = new GroupHarness();
        var (leader, follower, gen) = h.StableGroupOfTwo();
        h.NowMs = 7_000;
        var (leaderJoin, _) = h.Join(GroupHarness.JoinRequest(leader));
        for (long t = 7_000; t < 7_000 + 30_000; t += 3_000)
        {
            h.Tick(t);
            h.Heartbeat(follower, gen); // keeps its session alive, but never rejoins
        }
        h.Tick(7_000 + 29_999);
        Assert.False(h.Joins.ContainsKey(leaderJoin));
        h.Tick(7_000 + 30_000);
        var join = h.Joins[leaderJoin];
        Assert.Equal(gen + 1, join.GenerationId);
        Assert.Single(join.Members);
        Assert.DoesNotContain(h.Group().Members, m => m.MemberId == follower);
        Assert.Equal(GroupErrorCode.UNKNOWN_MEMBER_ID, h.Heartbeat(follower, gen + 1));
    }

    [Fact]
    public void Session_expiry_removes_member_and_triggers_rebalance()
    {
        var h = new GroupHarness();
        var (leader, follower, gen) = h.StableGroupOfTwo();
        long t = h.NowMs; // both sessions were last renewed by SyncGroup at t
        h.Tick(t + 5_000);
        Assert.Equal(GroupErrorCode.NONE, h.Heartbeat(leader, gen));
        h.Tick(t + 9_999);
        Assert.Equal(GroupState.Stable, h.Group().State);
        h.Tick(t + 10_000);
        // The follower's 10 s session ran out at t + 10 s; the tick at t + 10 s removed it.
        Assert.Equal(GroupState.PreparingRebalance, h.Group().State);
        Assert.Single(h.Group().Members);
        Assert.Equal(GroupErrorCode.REBALANCE_IN_PROGRESS, h.Heartbeat(leader, gen));
        Assert.Equal(GroupErrorCode.UNKNOWN_MEMBER_ID, h.Heartbeat(follower, gen));
    }

    [Fact]
    public void Heartbeat_errors_follow_Kafka()
    {
        var h = new GroupHarness();
        var (leader, _, gen) = h.StableGroupOfTwo();
        Assert.Equal(GroupErrorCode.NONE, h.Heartbeat(leader, gen));
        Assert.Equal(GroupErrorCode.ILLEGAL_GENERATION, h.Heartbeat(leader, gen - 1));
        Assert.Equal(GroupErrorCode.UNKNOWN_MEMBER_ID, h.Heartbeat("x", gen));
        Assert.Equal(GroupErrorCode.UNKNOWN_MEMBER_ID, h.Heartbeat(leader, gen, "missing-group"));
        Assert.Equal(GroupErrorCode.INVALID_GROUP_ID, h.Heartbeat(leader, gen, ""));
    }

    [Fact]
    public void Leave_of_one_member_rebalances_and_leave_of_the_last_empties_the_group()
    {
        var h = new GroupHarness();
        var (leader, follower, gen) = h.StableGroupOfTwo();
        var response = h.Leave("g", new LeaveGroupMember(follower));
        Assert.Equal(GroupErrorCode.NONE, response.Members.Single().ErrorCode);
        Assert.Equal(GroupState.PreparingRebalance, h.Group().State);
        var (rejoin, _) = h.Join(GroupHarness.JoinRequest(leader));
        Assert.Equal(gen + 1, h.Joins[rejoin].GenerationId);
        Assert.Equal(leader, h.Joins[rejoin].Leader);
        h.Leave("g", new LeaveGroupMember(leader));
        var group = h.Group();
        Assert.Equal(GroupState.Empty, group.State);
        Assert.Equal(gen + 2, group.GenerationId);
        var record = Assert.IsType<GroupMetadataRecord>(h.Log.Last());
        Assert.Empty(record.Value!.Members);
        Assert.Null(record.Value.Leader);
        Assert.Equal("consumer", record.Value.ProtocolType);
    }

    [Fact]
    public void Batch_leave_reports_each_member()
    {
        var h = new GroupHarness();
        var (leader, follower, _) = h.StableGroupOfTwo();
        var response = h.Leave("g", new LeaveGroupMember(leader), new LeaveGroupMember("ghost"), new LeaveGroupMember(follower));
        Assert.Equal([GroupErrorCode.NONE, GroupErrorCode.UNKNOWN_MEMBER_ID, GroupErrorCode.NONE], response.Members.Select(m => m.ErrorCode));
        Assert.Equal(GroupState.Empty, h.Group().State);
        Assert.Equal(GroupErrorCode.UNKNOWN_MEMBER_ID, h.Leave("nope", new LeaveGroupMember("x")).Members.Single().ErrorCode);
    }

    [Fact]
    public void Leaving_member_waiting_in_join_is_answered_UNKNOWN_MEMBER_ID()
    {
        var h = new GroupHarness();
        var (leader, follower, _) = h.StableGroupOfTwo();
        var (token, result) = h.Join(GroupHarness.JoinRequest(leader)); // a leader's rejoin always rebalances
        Assert.True(result.IsPending);
        h.Leave("g", new LeaveGroupMember(leader));
        Assert.Equal(GroupErrorCode.UNKNOWN_MEMBER_ID, h.Joins[token].ErrorCode);
        Assert.Equal(GroupState.PreparingRebalance, h.Group().State);
        Assert.Single(h.Group().Members, m => m.MemberId == follower);
        Assert.Equal(follower, h.Group().LeaderId);
    }

    [Fact]
    public void Join_validation_errors()
    {
        var h = new GroupHarness(GroupConfig.Default with { GroupMaxSize = 2 });
        Assert.Equal(GroupErrorCode.INVALID_GROUP_ID, h.Join(GroupHarness.JoinRequest(group: "")).Result.Response.ErrorCode);
        Assert.Equal(GroupErrorCode.INVALID_SESSION_TIMEOUT, h.Join(GroupHarness.JoinRequest(sessionMs: 5_999)).Result.Response.ErrorCode);
        Assert.Equal(GroupErrorCode.INVALID_SESSION_TIMEOUT, h.Join(GroupHarness.JoinRequest(sessionMs: 1_800_001)).Result.Response.ErrorCode);
        Assert.Equal(GroupErrorCode.UNKNOWN_MEMBER_ID, h.Join(GroupHarness.JoinRequest("made-up", group: "fresh")).Result.Response.ErrorCode);
        Assert.Equal(GroupErrorCode.INCONSISTENT_GROUP_PROTOCOL, h.Join(GroupHarness.JoinRequest(protocolType: "")).Result.Response.ErrorCode);
        h.JoinNew("g", ("range", 1));
        Assert.Equal(GroupErrorCode.INCONSISTENT_GROUP_PROTOCOL, h.Join(GroupHarness.JoinRequest(protocolType: "connect")).Result.Response.ErrorCode);
        Assert.Equal(GroupErrorCode.INCONSISTENT_GROUP_PROTOCOL, h.Join(GroupHarness.JoinRequest(protocols: ("cooperative-sticky", 1))).Result.Response.ErrorCode);
        h.JoinNew("g", ("range", 1));
        Assert.Equal(GroupErrorCode.GROUP_MAX_SIZE_REACHED, h.Join(GroupHarness.JoinRequest()).Result.Response.ErrorCode);
    }

    [Fact]
    public void Pending_member_id_expires_after_session_timeout_if_member_never_rejoins()
    {
        var h = new GroupHarness();
        var (_, first) = h.Join(GroupHarness.JoinRequest());
        string id = first.Response.MemberId;
        h.Tick(9_999);
        Assert.Contains(id, h.Group().PendingMemberIds);
        h.Tick(10_000);
        Assert.Empty(h.State.Inspect("g")?.PendingMemberIds ?? []);
        Assert.Equal(GroupErrorCode.UNKNOWN_MEMBER_ID, h.Join(GroupHarness.JoinRequest(id)).Result.Response.ErrorCode);
    }

    [Fact]
    public void Static_member_rejoining_with_same_metadata_replaces_old_id_without_rebalance()
    {
        var h = new GroupHarness();
        var (ta, _) = h.Join(GroupHarness.JoinRequest(instance: "i-1"));
        Assert.True(h.State.Inspect("g")!.Members.Count == 1); // static members skip MEMBER_ID_REQUIRED
        var (tb, _) = h.Join(GroupHarness.JoinRequest(instance: "i-2"));
        h.Tick(3_000);
        h.Tick(6_000);
        var ja = h.Joins[ta];
        var jb = h.Joins[tb];
        string follower = ja.Leader == ja.MemberId ? jb.MemberId : ja.MemberId;
        string leader = ja.Leader;
        string followerInstance = follower == ja.MemberId ? "i-1" : "i-2";
        h.Sync(follower, ja.GenerationId, "g", followerInstance);
        h.Sync(leader, ja.GenerationId, "g", null, (leader, 1), (follower, 2));

        // The follower's process restarts and joins again with its instance id and no member id.
        var (rejoinToken, rejoin) = h.Join(GroupHarness.JoinRequest(instance: followerInstance));
        Assert.False(rejoin.IsPending);
        Assert.Equal(GroupErrorCode.NONE, rejoin.Response.ErrorCode);
        Assert.NotEqual(follower, rejoin.Response.MemberId);
        Assert.Equal(ja.GenerationId, rejoin.Response.GenerationId);
        Assert.Equal(GroupState.Stable, h.Group().State);
        Assert.IsType<GroupMetadataRecord>(h.Log.Last());
        // The new incarnation gets the old assignment; the old member id is fenced.
        Assert.Equal([2], h.Sync(rejoin.Response.MemberId, ja.GenerationId, "g", followerInstance).Result.Response.Assignment);
        Assert.Equal(GroupErrorCode.FENCED_INSTANCE_ID, h.Heartbeat(follower, ja.GenerationId, "g", followerInstance));
        Assert.Equal(GroupErrorCode.FENCED_INSTANCE_ID, h.Sync(follower, ja.GenerationId, "g", followerInstance).Result.Response.ErrorCode);
        Assert.Equal(GroupErrorCode.FENCED_INSTANCE_ID, h.Leave("g", new LeaveGroupMember(follower, followerInstance)).Members.Single().ErrorCode);
    }

    [Fact]
    public void Static_member_rejoining_with_changed_metadata_triggers_rebalance()
    {
        var h = new GroupHarness();
        var (ta, _) = h.Join(GroupHarness.JoinRequest(instance: "i-1"));
        h.Tick(3_000);
        var j = h.Joins[ta];
        h.Sync(j.MemberId, j.GenerationId, "g", "i-1", (j.MemberId, 1));
        var (token, rejoin) = h.Join(GroupHarness.JoinRequest(instance: "i-1", protocols: ("range", 99)));
        Assert.True(rejoin.IsPending);
        Assert.Equal(j.GenerationId + 1, h.Joins[token].GenerationId);
    }

    [Fact]
    public void Static_member_can_be_removed_by_instance_id_alone()
    {
        var h = new GroupHarness();
        var (ta, _) = h.Join(GroupHarness.JoinRequest(instance: "i-1"));
        h.Tick(3_000);
        var response = h.Leave("g", new LeaveGroupMember("", "i-1"));
        Assert.Equal(GroupErrorCode.NONE, response.Members.Single().ErrorCode);
        Assert.Equal(h.Joins[ta].MemberId, response.Members.Single().MemberId);
        Assert.Equal(GroupState.Empty, h.Group().State);
    }

    [Fact]
    public void Members_that_never_sync_are_removed_after_the_rebalance_timeout()
    {
        var h = new GroupHarness();
        var (a, ta) = h.JoinNew();
        var (b, _) = h.JoinNew();
        h.Tick(3_000);
        h.Tick(6_000);
        var (syncToken, _) = h.Sync(b, h.Joins[ta].GenerationId); // the leader a never syncs (but keeps heartbeating)
        for (long t = 9_000; t < 36_000; t += 3_000)
        {
            h.Tick(t);
            h.Heartbeat(a, h.Joins[ta].GenerationId);
        }
        h.Tick(36_000);
        Assert.Equal(GroupErrorCode.REBALANCE_IN_PROGRESS, h.Syncs[syncToken].ErrorCode);
        Assert.DoesNotContain(h.Group().Members, m => m.MemberId == a);
    }

    [Fact]
    public void List_and_describe_groups()
    {
        var h = new GroupHarness();
        var (leader, follower, gen) = h.StableGroupOfTwo();
        h.JoinNew("other");
        var listed = h.State.ListGroups();
        Assert.Contains(new ListedGroup("g", "consumer", "Stable"), listed);
        Assert.Contains(new ListedGroup("other", "consumer", "PreparingRebalance"), listed);
        Assert.Single(h.State.ListGroups(["stable"]));
        var described = h.State.DescribeGroups(["g", "other", "missing"]);
        Assert.Equal("Stable", described[0].GroupState);
        Assert.Equal("range", described[0].ProtocolData);
        Assert.Equal(2, described[0].Members.Count);
        Assert.Equal([1], described[0].Members.Single(m => m.MemberId == leader).MemberMetadata);
        Assert.NotEmpty(described[0].Members.Single(m => m.MemberId == follower).MemberAssignment);
        Assert.Equal("", described[1].ProtocolData);
        Assert.Empty(described[1].Members[0].MemberMetadata);
        Assert.Equal("Dead", described[2].GroupState);
        Assert.Equal(GroupErrorCode.NONE, described[2].ErrorCode);
        _ = gen;
    }

    [Fact]
    public void Unload_answers_everything_waiting_with_NOT_COORDINATOR()
    {
        var h = new GroupHarness();
        var (_, token) = h.JoinNew();
        var (commit, _) = h.Commit("simple", -1, "", ("t", 0, 5));
        h.Absorb(h.State.Unload());
        Assert.Equal(GroupErrorCode.NOT_COORDINATOR, h.Joins[token].ErrorCode);
        Assert.Equal(GroupErrorCode.NOT_COORDINATOR, h.Commits[commit].Partitions.Single().ErrorCode);
        Assert.Empty(h.State.GroupIds);
    }

    [Fact]
    public void Session_restarts_when_a_long_waiting_sync_is_answered()
    {
        var h = new GroupHarness();
        var (a, ta) = h.JoinNew();
        var (b, tb) = h.JoinNew();
        h.Tick(3_000);
        h.Tick(6_000);
        int gen = h.Joins[ta].GenerationId;
        var (syncToken, _) = h.Sync(b, gen); // b waits 20 s for the leader, longer than its 10 s session
        for (long t = 9_000; t <= 26_000; t += 3_000)
        {
            h.Tick(t);
            h.Heartbeat(a, gen);
        }
        h.Sync(a, gen, "g", null, (a, 1), (b, 2));
        Assert.Equal([2], h.Syncs[syncToken].Assignment);
        h.Tick(h.NowMs + 1);
        Assert.Contains(h.Group().Members, m => m.MemberId == b); // not expired by the stale deadline
        Assert.Equal(GroupState.Stable, h.Group().State);
        _ = tb;
    }

    [Fact]
    public void NextDeadlineMs_tells_the_driver_when_to_tick()
    {
        var h = new GroupHarness();
        Assert.Equal(long.MaxValue, h.State.NextDeadlineMs); // no groups, nothing to do
        var (a, ta) = h.JoinNew();
        h.Tick(0); // the first tick also runs the retention check, next due at 600 s
        Assert.Equal(3_000, h.State.NextDeadlineMs); // the initial rebalance delay
        h.Tick(3_000);
        var join = h.Joins[ta];
        // The JoinGroup response started the session (10 s); the pending-sync deadline (30 s) comes later.
        Assert.Equal(13_000, h.State.NextDeadlineMs);
        h.NowMs = 5_000;
        h.Sync(a, join.GenerationId, "g", null, (a, 1));
        Assert.Equal(15_000, h.State.NextDeadlineMs); // SyncGroup renewed the session; nobody is left to sync
    }

    [Fact]
    public void Error_codes_have_Kafka_numeric_values()
    {
        Assert.Equal(79, (short)GroupErrorCode.MEMBER_ID_REQUIRED);
        Assert.Equal(82, (short)GroupErrorCode.FENCED_INSTANCE_ID);
        Assert.Equal(81, (short)GroupErrorCode.GROUP_MAX_SIZE_REACHED);
        Assert.Equal(27, (short)GroupErrorCode.REBALANCE_IN_PROGRESS);
        Assert.Equal(22, (short)GroupErrorCode.ILLEGAL_GENERATION);
        Assert.Equal(25, (short)GroupErrorCode.UNKNOWN_MEMBER_ID);
        Assert.Equal(26, (short)GroupErrorCode.INVALID_SESSION_TIMEOUT);
        Assert.Equal(23, (short)GroupErrorCode.INCONSISTENT_GROUP_PROTOCOL);
        Assert.Equal(24, (short)GroupErrorCode.INVALID_GROUP_ID);
        Assert.Equal(12, (short)GroupErrorCode.OFFSET_METADATA_TOO_LARGE);
        Assert.Equal(14, (short)GroupErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
        Assert.Equal(16, (short)GroupErrorCode.NOT_COORDINATOR);
        Assert.Equal(88, (short)GroupErrorCode.UNSTABLE_OFFSET_COMMIT);
    }
}
