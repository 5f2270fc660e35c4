using Kraft.Broker.Groups;

namespace Kraft.Broker.Tests.Groups;

public class GroupLoadTests
{
    private static GroupCoordinatorState Reload(GroupHarness h) =>
        GroupCoordinatorState.LoadEncoded(h.Log.Select(GroupRecordCodec.Encode).ToList(), h.Config, h.NowMs, h.NextGuid);

    [Fact]
    public void Stable_group_and_offsets_survive_failover_and_members_carry_on()
    {
        var h = new GroupHarness();
        var (leader, follower, gen) = h.StableGroupOfTwo();
        var (c, _) = h.Commit("g", gen, leader, ("t", 0, 42), ("t", 1, 7));
        h.Ack(c);
        var (c2, _) = h.Commit("g", gen, leader, ("t", 0, 43));
        h.Ack(c2);

        h.State = Reload(h);
        var group = h.Group();
        Assert.Equal(GroupState.Stable, group.State);
        Assert.Equal(gen, group.GenerationId);
        Assert.Equal(leader, group.LeaderId);
        Assert.Equal("range", group.ProtocolName);
        Assert.Equal(43, group.Offsets[new TopicPartition("t", 0)].Offset);
        Assert.Equal(7, group.Offsets[new TopicPartition("t", 1)].Offset);
        // The members keep their generation on the new coordinator: no rebalance needed.
        Assert.Equal(GroupErrorCode.NONE, h.Heartbeat(follower, gen));
        Assert.Equal([2], h.Sync(follower, gen).Result.Response.Assignment);
    }

    [Fact]
    public void Latest_record_per_key_wins_and_tombstones_delete()
    {
        var records = new GroupRecord[]
        {
            new OffsetCommitRecord("a", "t", 0, new OffsetCommitValue(1, -1, "", 0)),
            new OffsetCommitRecord("a", "t", 0, new OffsetCommitValue(2, -1, "", 0)),
            new OffsetCommitRecord("a", "t", 1, new OffsetCommitValue(5, -1, "", 0)),
            new OffsetCommitRecord("a", "t", 1, null),
            new GroupMetadataRecord("b", new GroupMetadataValue("consumer", 4, null, null, 10, [])),
            new GroupMetadataRecord("c", new GroupMetadataValue("consumer", 1, null, null, 10, [])),
            new GroupMetadataRecord("c", null),
            new OffsetCommitRecord("d", "t", 0, new OffsetCommitValue(1, -1, "", 0)),
            new OffsetCommitRecord("d", "t", 0, null),
        };
        var state = GroupCoordinatorState.Load(records, GroupConfig.Default, 100);
        var a = state.Inspect("a")!;
        Assert.Equal(GroupState.Empty, a.State);
        Assert.Null(a.ProtocolType); // offsets only: a simple group
        Assert.Equal(2, a.Offsets[new TopicPartition("t", 0)].Offset);
        Assert.False(a.Offsets.ContainsKey(new TopicPartition("t", 1)));
        var b = state.Inspect("b")!;
        Assert.Equal((GroupState.Empty, 4, "consumer", 10L), (b.State, b.GenerationId, b.ProtocolType, b.CurrentStateTimestampMs));
        Assert.Null(state.Inspect("c"));
        Assert.Null(state.Inspect("d"));
    }

    [Fact]
    public void Uncommitted_pending_commit_is_lost_on_failover_but_acknowledged_ones_are_not()
    {
        var h = new GroupHarness();
        var (leader, _, gen) = h.StableGroupOfTwo();
        var (acked, _) = h.Commit("g", gen, leader, ("t", 0, 10));
        h.Ack(acked);
        var logBefore = h.Log.Count;
        h.Commit("g", gen, leader, ("t", 0, 20)); // its record never reached the replicated log
        h.Log.RemoveRange(logBefore, h.Log.Count - logBefore);
        h.State = Reload(h);
        Assert.Equal(10, h.State.FetchOffsets(new OffsetFetchRequest("g", [new TopicPartition("t", 0)])).Partitions.Single().CommittedOffset);
    }

    [Fact]
    public void Static_member_replacement_survives_failover()
    {
        var h = new GroupHarness();
        var (ta, _) = h.Join(GroupHarness.JoinRequest(instance: "i-1"));
        var (tb, _) = h.Join(GroupHarness.JoinRequest(instance: "i-2"));
        h.Tick(3_000);
        h.Tick(6_000);
        var leader = h.Joins[ta];
        var j = h.Joins[tb]; // the follower bounces
        Assert.NotEqual(j.MemberId, j.Leader);
        h.Sync(j.MemberId, j.GenerationId, "g", "i-2");
        h.Sync(leader.MemberId, j.GenerationId, "g", "i-1", (leader.MemberId, 4), (j.MemberId, 5));
        var (_, rejoin) = h.Join(GroupHarness.JoinRequest(instance: "i-2"));
        Assert.False(rejoin.IsPending);
        h.State = Reload(h);
        Assert.Equal(GroupErrorCode.FENCED_INSTANCE_ID, h.Heartbeat(j.MemberId, j.GenerationId, "g", "i-2"));
        Assert.Equal(GroupErrorCode.NONE, h.Heartbeat(rejoin.Response.MemberId, j.GenerationId, "g", "i-2"));
        Assert.Equal([5], h.Sync(rejoin.Response.MemberId, j.GenerationId, "g", "i-2").Result.Response.Assignment);
    }
}
