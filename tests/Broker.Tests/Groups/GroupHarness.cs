using Kraft.Broker.Groups;

namespace Kraft.Broker.Tests.Groups;

/// <summary>
/// A tiny driver for scenario tests: hands out request tokens, keeps every completion the
/// coordinator produced by token, collects records, and checks that no token is answered twice.
/// </summary>
internal sealed class GroupHarness
{
    private long _nextToken = 1;
    private int _guidCounter;

    public GroupHarness(GroupConfig? config = null)
    {
        Config = config ?? GroupConfig.Default;
        State = new GroupCoordinatorState(Config, NextGuid);
    }

    public GroupConfig Config { get; }
    public GroupCoordinatorState State { get; set; }
    public long NowMs { get; set; }
    public Dictionary<long, JoinGroupResponse> Joins { get; } = [];
    public Dictionary<long, SyncGroupResponse> Syncs { get; } = [];
    public Dictionary<long, OffsetCommitResponse> Commits { get; } = [];
    public List<GroupRecord> Log { get; } = [];

    public Guid NextGuid() => new(++_guidCounter, 0, 0, new byte[8]);

    public static JoinGroupRequest JoinRequest(string memberId = "", string group = "g", string? instance = null, short version = 5,
        int sessionMs = 10_000, int rebalanceMs = 30_000, string protocolType = "consumer", params (string Name, byte Meta)[] protocols)
    {
        var list = protocols.Length == 0 ? [new JoinGroupProtocol("range", [1])] : protocols.Select(p => new JoinGroupProtocol(p.Name, [p.Meta])).ToList();
        return new JoinGroupRequest(group, sessionMs, rebalanceMs, memberId, instance, protocolType, list, version, "client", "/127.0.0.1");
    }

    public (long Token, GroupResult<JoinGroupResponse> Result) Join(JoinGroupRequest request)
    {
        long token = _nextToken++;
        var result = State.Join(request, token, NowMs);
        Absorb(result.Output);
        if (!result.IsPending) Joins.Add(token, result.Response);
        return (token, result);
    }

    /// <summary>KIP-394 dance for a dynamic member: returns the member id and the pending join's token.</summary>
    public (string MemberId, long Token) JoinNew(string group = "g", params (string Name, byte Meta)[] protocols)
    {
        var (_, first) = Join(JoinRequest(group: group, protocols: protocols));
        Assert.Equal(GroupErrorCode.MEMBER_ID_REQUIRED, first.Response.ErrorCode);
        var (token, second) = Join(JoinRequest(first.Response.MemberId, group, protocols: protocols));
        return (first.Response.MemberId, token);
    }

    public (long Token, GroupResult<SyncGroupResponse> Result) Sync(string memberId, int generation, string group = "g", string? instance = null, params (string MemberId, byte Assignment)[] assignments)
    {
        long token = _nextToken++;
        var request = new SyncGroupRequest(group, generation, memberId, instance, assignments.Select(a => new SyncGroupAssignment(a.MemberId, [a.Assignment])).ToList());
        var result = State.Sync(request, token, NowMs);
        Absorb(result.Output);
        if (!result.IsPending) Syncs.Add(token, result.Response);
        return (token, result);
    }

    public GroupErrorCode Heartbeat(string memberId, int generation, string group = "g", string? instance = null)
    {
        var result = State.Heartbeat(new HeartbeatRequest(group, generation, memberId, instance), NowMs);
        Absorb(result.Output);
        return result.Response;
    }

    public LeaveGroupResponse Leave(string group, params LeaveGroupMember[] members)
    {
        var result = State.Leave(new LeaveGroupRequest(group, members), NowMs);
        Absorb(result.Output);
        return result.Response;
    }

    public (long Token, GroupResult<OffsetCommitResponse> Result) Commit(string group, int generation, string memberId, params (string Topic, int Partition, long Offset)[] offsets)
    {
        long token = _nextToken++;
        var request = new OffsetCommitRequest(group, generation, memberId, null, offsets.Select(o => new OffsetCommitPartition(o.Topic, o.Partition, o.Offset)).ToList());
        var result = State.CommitOffsets(request, token, NowMs);
        Absorb(result.Output);
        if (!result.IsPending) Commits.Add(token, result.Response);
        return (token, result);
    }

    public void Ack(long commitToken, GroupErrorCode error = GroupErrorCode.NONE) => Absorb(State.CompleteOffsetCommit(commitToken, error, NowMs));

    public GroupOutput Tick(long nowMs)
    {
        NowMs = nowMs;
        var output = State.Tick(nowMs);
        Absorb(output);
        return output;
    }

    public void Absorb(GroupOutput output)
    {
        foreach (var c in output.JoinCompletions) Joins.Add(c.RequestToken, c.Response); // Add throws on a second answer
        foreach (var c in output.SyncCompletions) Syncs.Add(c.RequestToken, c.Response);
        foreach (var c in output.OffsetCommitCompletions) Commits.Add(c.RequestToken, c.Response);
        Log.AddRange(output.Records);
    }

    public GroupSnapshot Group(string group = "g") => State.Inspect(group) ?? throw new InvalidOperationException($"no group {group}");

    /// <summary>Two dynamic members through join and sync: returns (leader, follower, generation).</summary>
    public (string Leader, string Follower, int Generation) StableGroupOfTwo(string group = "g")
    {
        var (a, ta) = JoinNew(group);
        var (b, tb) = JoinNew(group);
        Tick(NowMs + 3_000); // the initial delay ends, but b arrived during it: KIP-134 waits one more delay
        Assert.False(Joins.ContainsKey(ta));
        Tick(NowMs + 3_000);
        var ja = Joins[ta];
        var jb = Joins[tb];
        Assert.Equal(GroupErrorCode.NONE, ja.ErrorCode);
        Assert.Equal(GroupErrorCode.NONE, jb.ErrorCode);
        string leader = ja.Leader;
        string follower = leader == a ? b : a;
        Sync(follower, ja.GenerationId, group);
        Sync(leader, ja.GenerationId, group, null, (a, 1), (b, 2));
        Assert.Equal(GroupState.Stable, Group(group).State);
        return (leader, follower, ja.GenerationId);
    }
}
