using Kraft.Broker.Groups;

namespace Kraft.Broker.Tests.Groups;

public class OffsetTests
{
    private static OffsetFetchPartitionResponse Fetch(GroupHarness h, string group, string topic, int partition, bool stable = false) =>
        h.State.FetchOffsets(new OffsetFetchRequest(group, [new TopicPartition(topic, partition)], stable)).Partitions.Single();

    [Fact]
    public void Commit_is_invisible_until_its_records_are_acknowledged()
    {
        var h = new GroupHarness();
        var (leader, _, gen) = h.StableGroupOfTwo();
        var (token, result) = h.Commit("g", gen, leader, ("t", 0, 42));
        Assert.True(result.IsPending);
        var record = Assert.IsType<OffsetCommitRecord>(result.Output.Records.Single());
        Assert.Equal(42, record.Value!.Offset);
        Assert.Equal(-1, Fetch(h, "g", "t", 0).CommittedOffset);
        Assert.Equal(GroupErrorCode.UNSTABLE_OFFSET_COMMIT, Fetch(h, "g", "t", 0, stable: true).ErrorCode);
        h.Ack(token);
        Assert.Equal(GroupErrorCode.NONE, h.Commits[token].Partitions.Single().ErrorCode);
        Assert.Equal(42, Fetch(h, "g", "t", 0).CommittedOffset);
        Assert.Equal(42, Fetch(h, "g", "t", 0, stable: true).CommittedOffset);
    }

    [Fact]
    public void CommittedOffsets_lists_acknowledged_commits_of_every_group_for_the_lag_gauge()
    {
        var h = new GroupHarness();
        var (leader, _, gen) = h.StableGroupOfTwo();
        var (first, _) = h.Commit("g", gen, leader, ("t", 0, 10), ("t", 1, 3));
        h.Ack(first);
        var (simple, _) = h.Commit("simple", -1, "", ("u", 0, 7));
        h.Ack(simple);
        h.Commit("g", gen, leader, ("t", 0, 12)); // not acknowledged yet: not committed

        Assert.Equal(
            [new CommittedOffset("g", new TopicPartition("t", 0), 10), new CommittedOffset("g", new TopicPartition("t", 1), 3), new CommittedOffset("simple", new TopicPartition("u", 0), 7)],
            h.State.CommittedOffsets().OrderBy(o => o.GroupId, StringComparer.Ordinal).ThenBy(o => o.Partition.Topic, StringComparer.Ordinal).ThenBy(o => o.Partition.Partition));
    }

    [Fact]
    public void Failed_append_drops_the_commit_and_reports_the_error()
    {
        var h = new GroupHarness();
        var (leader, _, gen) = h.StableGroupOfTwo();
        var (first, _) = h.Commit("g", gen, leader, ("t", 0, 10));
        h.Ack(first);
        var (second, _) = h.Commit("g", gen, leader, ("t", 0, 20));
        h.Ack(second, GroupErrorCode.NOT_COORDINATOR);
        Assert.Equal(GroupErrorCode.NOT_COORDINATOR, h.Commits[second].Partitions.Single().ErrorCode);
        Assert.Equal(10, Fetch(h, "g", "t", 0).CommittedOffset);
    }

    [Fact]
    public void Commit_validation_follows_Kafka()
    {
        var h = new GroupHarness();
        var (leader, follower, gen) = h.StableGroupOfTwo();
        GroupErrorCode Code((long Token, GroupResult<OffsetCommitResponse> Result) r) => r.Result.Response.Partitions.Single().ErrorCode;
        Assert.Equal(GroupErrorCode.ILLEGAL_GENERATION, Code(h.Commit("g", gen + 1, leader, ("t", 0, 1))));
        Assert.Equal(GroupErrorCode.UNKNOWN_MEMBER_ID, Code(h.Commit("g", gen, "stranger", ("t", 0, 1))));
        Assert.Equal(GroupErrorCode.UNKNOWN_MEMBER_ID, Code(h.Commit("g", -1, "", ("t", 0, 1)))); // simple commit into a live group
        Assert.Equal(GroupErrorCode.ILLEGAL_GENERATION, Code(h.Commit("no-such-group", 3, "m", ("t", 0, 1))));
        Assert.True(h.Commit("no-such-group", -1, "", ("t", 0, 1)).Result.IsPending); // simple commit creates a simple group

        // During CompletingRebalance the member has a generation but no assignment yet.
        h.Join(GroupHarness.JoinRequest(leader));
        h.Join(GroupHarness.JoinRequest(follower));
        Assert.Equal(GroupState.CompletingRebalance, h.Group().State);
        Assert.Equal(GroupErrorCode.REBALANCE_IN_PROGRESS, Code(h.Commit("g", gen + 1, leader, ("t", 0, 1))));
    }

    [Fact]
    public void Commit_during_PreparingRebalance_with_current_generation_is_accepted()
    {
        var h = new GroupHarness();
        var (leader, follower, gen) = h.StableGroupOfTwo();
        h.Join(GroupHarness.JoinRequest(leader));
        Assert.Equal(GroupState.PreparingRebalance, h.Group().State);
        // The follower commits what it processed before giving its partitions up (Kafka allows it).
        Assert.True(h.Commit("g", gen, follower, ("t", 1, 7)).Result.IsPending);
    }

    [Fact]
    public void Oversized_metadata_is_refused_per_partition()
    {
        var h = new GroupHarness();
        var request = new OffsetCommitRequest("s", -1, "", null,
        [
            new OffsetCommitPartition("t", 0, 5, 3, new string('x', 4_096)),
            new OffsetCommitPartition("t", 1, 6, -1, new string('x', 4_097)),
        ]);
        var result = h.State.CommitOffsets(request, 99, 0);
        Assert.True(result.IsPending);
        h.Absorb(result.Output);
        h.Ack(99);
        Assert.Equal([GroupErrorCode.NONE, GroupErrorCode.OFFSET_METADATA_TOO_LARGE], h.Commits[99].Partitions.Select(p => p.ErrorCode));
        var fetched = Fetch(h, "s", "t", 0);
        Assert.Equal((5L, 3), (fetched.CommittedOffset, fetched.CommittedLeaderEpoch));
        Assert.Equal(-1, Fetch(h, "s", "t", 1).CommittedOffset);
    }

    [Fact]
    public void Fetch_of_all_offsets_and_of_unknown_group()
    {
        var h = new GroupHarness();
        var (t1, _) = h.Commit("s", -1, "", ("b", 1, 11), ("a", 0, 10));
        h.Ack(t1);
        var all = h.State.FetchOffsets(new OffsetFetchRequest("s", null)).Partitions;
        Assert.Equal([("a", 0, 10L), ("b", 1, 11L)], all.Select(p => (p.Topic, p.Partition, p.CommittedOffset)));
        Assert.Empty(h.State.FetchOffsets(new OffsetFetchRequest("none", null)).Partitions);
        Assert.Equal(-1, Fetch(h, "none", "a", 0).CommittedOffset);
    }

    [Fact]
    public void Empty_group_offsets_expire_retention_after_the_group_became_empty_not_after_the_commit()
    {
        var h = new GroupHarness();
        var (leader, follower, gen) = h.StableGroupOfTwo();
        var (token, _) = h.Commit("g", gen, leader, ("t", 0, 100));
        h.Ack(token);
        long week = 10_080L * 60_000;
        h.Tick(week); // nobody heartbeated, so both sessions expired at this tick
        // Sessions of 10 s ran out, so the group became empty at this tick: retention starts now.
        Assert.Equal(GroupState.Empty, h.Group().State);
        long emptySince = h.Group().CurrentStateTimestampMs!.Value;
        Assert.Equal(week, emptySince);
        h.Tick(emptySince + week - 1);
        Assert.Equal(100, Fetch(h, "g", "t", 0).CommittedOffset);
        h.Tick(emptySince + week + 600_000); // the next retention check after the period
        Assert.Equal(-1, Fetch(h, "g", "t", 0).CommittedOffset);
        Assert.Null(h.State.Inspect("g"));
        Assert.Contains(h.Log, r => r is OffsetCommitRecord { Value: null, Topic: "t", Partition: 0 });
        Assert.Equal(new GroupMetadataRecord("g", null), h.Log.Last());
        _ = follower;
    }

    [Fact]
    public void Simple_group_offsets_expire_per_commit_timestamp()
    {
        var h = new GroupHarness(GroupConfig.Default with { OffsetsRetentionMinutes = 1, OffsetsRetentionCheckIntervalMs = 1_000 });
        h.NowMs = 0;
        var (a, _) = h.Commit("s", -1, "", ("t", 0, 1));
        h.Ack(a);
        h.NowMs = 30_000;
        var (b, _) = h.Commit("s", -1, "", ("t", 1, 2));
        h.Ack(b);
        h.Tick(60_000);
        Assert.Equal(-1, Fetch(h, "s", "t", 0).CommittedOffset);
        Assert.Equal(2, Fetch(h, "s", "t", 1).CommittedOffset);
        h.Tick(90_000);
        Assert.Null(h.State.Inspect("s"));
    }

    [Fact]
    public void Delete_group_requires_an_empty_group_and_writes_tombstones()
    {
        var h = new GroupHarness();
        var (leader, _, gen) = h.StableGroupOfTwo();
        Assert.Equal(GroupErrorCode.NON_EMPTY_GROUP, h.State.DeleteGroup("g", h.NowMs).Response);
        Assert.Equal(GroupErrorCode.GROUP_ID_NOT_FOUND, h.State.DeleteGroup("x", h.NowMs).Response);
        var (c, _) = h.Commit("s", -1, "", ("t", 0, 1));
        h.Ack(c);
        var result = h.State.DeleteGroup("s", h.NowMs);
        Assert.Equal(GroupErrorCode.NONE, result.Response);
        Assert.Equal([new OffsetCommitRecord("s", "t", 0, null), new GroupMetadataRecord("s", null)], result.Output.Records);
        _ = (leader, gen);
    }
}
