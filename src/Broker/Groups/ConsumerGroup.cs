namespace Kraft.Broker.Groups;

/// <summary>The classic group states (Kafka's GroupState). Values are append-only.</summary>
public enum GroupState
{
    Empty = 0,
    PreparingRebalance = 1,
    CompletingRebalance = 2,
    Stable = 3,
    Dead = 4,
}

/// <summary>
/// One member of a classic group. Owned by its <see cref="ConsumerGroup"/> (coordinator thread).
/// A member waits for at most one JoinGroup and one SyncGroup response at a time; those are the
/// request tokens below. <see cref="AssignmentGeneration"/> is the generation whose leader produced
/// <see cref="Assignment"/>.
/// </summary>
internal sealed class GroupMember
{
    public required string MemberId { get; set; }
    public string? GroupInstanceId { get; init; }
    public string ClientId { get; set; } = "";
    public string ClientHost { get; set; } = "";
    public int SessionTimeoutMs { get; set; }
    public int RebalanceTimeoutMs { get; set; }
    public required IReadOnlyList<JoinGroupProtocol> Protocols { get; set; }
    public byte[] Assignment { get; set; } = [];
    public int AssignmentGeneration { get; set; } = -1;
    public long? AwaitingJoinToken { get; set; }
    public long? AwaitingSyncToken { get; set; }
    public long HeartbeatDeadlineMs { get; set; }

    public byte[] MetadataFor(string? protocol)
    {
        foreach (var p in Protocols) if (p.Name == protocol) return p.Metadata;
        return [];
    }

    /// <summary>Kafka's MemberMetadata.matches: the same protocols, in the same order, with the same metadata bytes.</summary>
    public bool ProtocolsMatch(IReadOnlyList<JoinGroupProtocol> other)
    {
        if (other.Count != Protocols.Count) return false;
        for (int i = 0; i < other.Count; i++)
        {
            if (other[i].Name != Protocols[i].Name || !other[i].Metadata.AsSpan().SequenceEqual(Protocols[i].Metadata)) return false;
        }
        return true;
    }
}

/// <summary>
/// One classic consumer group: its membership state machine (Kafka's GroupMetadata plus the
/// rebalance parts of GroupCoordinator) and its committed offsets. Owned by the
/// <see cref="GroupCoordinatorState"/> of the group's offsets partition, single-threaded.
///
/// Invariants (checked by <see cref="CheckInvariants"/> after every call):
/// Empty has no members and nothing waiting; PreparingRebalance has no SyncGroup waiting;
/// CompletingRebalance and Stable have a leader that is a member and no JoinGroup waiting;
/// in Stable every member's assignment is from the current generation; instance ids map to
/// exactly one member each.
/// </summary>
internal sealed class ConsumerGroup
{
    public ConsumerGroup(string groupId, long nowMs)
    {
        GroupId = groupId;
        CurrentStateTimestampMs = nowMs;
    }

    public string GroupId { get; }
    public GroupState State { get; private set; } = GroupState.Empty;
    public int GenerationId { get; set; }
    public string? ProtocolType { get; set; }
    public string? ProtocolName { get; set; }
    public string? LeaderId { get; set; }

    /// <summary>When the group last changed state; null for groups loaded from records that predate it (GroupMetadataValue v0/v1).</summary>
    public long? CurrentStateTimestampMs { get; set; }

    /// <summary>Members in join order (Dictionary keeps insertion order until removals; we only need determinism).</summary>
    public Dictionary<string, GroupMember> Members { get; } = new(StringComparer.Ordinal);

    /// <summary>group.instance.id -> current member id (KIP-345).</summary>
    public Dictionary<string, string> StaticMembers { get; } = new(StringComparer.Ordinal);

    /// <summary>KIP-394: member ids handed out with MEMBER_ID_REQUIRED, with the time they expire unless the member rejoins.</summary>
    public Dictionary<string, long> PendingMembers { get; } = new(StringComparer.Ordinal);

    /// <summary>Members that received a JoinGroup response of this generation but have not sent SyncGroup yet.</summary>
    public HashSet<string> PendingSyncMembers { get; } = new(StringComparer.Ordinal);

    public long? PendingSyncDeadlineMs { get; set; }

    /// <summary>When the current PreparingRebalance gives up waiting for members (the DelayedJoin / InitialDelayedJoin deadline).</summary>
    public long? JoinDeadlineMs { get; set; }
    public bool InitialDelayActive { get; set; }
    public long InitialDelayRemainingMs { get; set; }
    public bool NewMemberAdded { get; set; }

    public Dictionary<TopicPartition, OffsetCommitValue> Offsets { get; } = [];

    /// <summary>Partitions with an offset commit appended but not yet acknowledged, with how many such commits.</summary>
    public Dictionary<TopicPartition, int> PendingOffsetCommits { get; } = [];

    public int RebalanceTimeoutMs
    {
        get
        {
            int max = 0;
            foreach (var m in Members.Values) max = Math.Max(max, m.RebalanceTimeoutMs);
            return max;
        }
    }

    public bool HasAllMembersJoined
    {
        get
        {
            if (PendingMembers.Count > 0) return false;
            foreach (var m in Members.Values) if (m.AwaitingJoinToken is null) return false;
            return true;
        }
    }

    public void TransitionTo(GroupState state, long nowMs)
    {
        Assert(IsValidTransition(State, state), $"illegal transition {State} -> {state} in group {GroupId}");
        State = state;
        CurrentStateTimestampMs = nowMs;
    }

    /// <summary>Kafka's GroupState valid previous states, written in one place.</summary>
    public static bool IsValidTransition(GroupState from, GroupState to) => to switch
    {
        GroupState.PreparingRebalance => from is GroupState.Stable or GroupState.CompletingRebalance or GroupState.Empty,
        GroupState.CompletingRebalance => from is GroupState.PreparingRebalance,
        GroupState.Stable => from is GroupState.CompletingRebalance,
        GroupState.Empty => from is GroupState.PreparingRebalance,
        GroupState.Dead => from is not GroupState.Dead,
        _ => false,
    };

    /// <summary>Restores the state of a loaded group without transition checks (only <see cref="GroupCoordinatorState.Load"/>).</summary>
    public void RestoreState(GroupState state, long? stateTimestampMs)
    {
        State = state;
        CurrentStateTimestampMs = stateTimestampMs;
    }

    /// <summary>
    /// Kafka's supportsProtocols: an empty group accepts any non-empty protocol type with at least one
    /// protocol; otherwise the type must match and one protocol must be supported by every other member.
    /// </summary>
    public bool SupportsProtocols(string protocolType, IReadOnlyList<JoinGroupProtocol> protocols, string? joiningMemberId)
    {
        if (string.IsNullOrEmpty(protocolType) || protocols.Count == 0) return false;
        bool anyOther = false;
        foreach (var m in Members.Values) if (m.MemberId != joiningMemberId) { anyOther = true; break; }
        if (!anyOther) return true;
        if (protocolType != ProtocolType) return false;
        foreach (var p in protocols)
        {
            bool all = true;
            foreach (var m in Members.Values)
            {
                if (m.MemberId == joiningMemberId) continue;
                bool has = false;
                foreach (var q in m.Protocols) if (q.Name == p.Name) { has = true; break; }
                if (!has) { all = false; break; }
            }
            if (all) return true;
        }
        return false;
    }

    /// <summary>
    /// Kafka's selectProtocol: among the protocols every member supports, each member votes for the
    /// first one in its own preference order; the most votes win. Ties go to the protocol the leader
    /// (else the first member) prefers, so that the choice is deterministic.
    /// </summary>
    public string SelectProtocol()
    {
        Assert(Members.Count > 0, "selecting a protocol for a group without members");
        var candidates = new List<string>();
        var first = LeaderId is not null && Members.TryGetValue(LeaderId, out var leader) ? leader : Members.Values.First();
        foreach (var p in first.Protocols)
        {
            if (Members.Values.All(m => m.Protocols.Any(q => q.Name == p.Name))) candidates.Add(p.Name);
        }
        Assert(candidates.Count > 0, $"no common protocol in group {GroupId}");
        var votes = candidates.ToDictionary(c => c, _ => 0, StringComparer.Ordinal);
        foreach (var m in Members.Values)
        {
            var vote = m.Protocols.First(p => votes.ContainsKey(p.Name));
            votes[vote.Name]++;
        }
        string best = candidates[0];
        foreach (var c in candidates) if (votes[c] > votes[best]) best = c;
        return best;
    }

    public GroupMetadataValue ToRecordValue() => new(
        ProtocolType ?? "",
        GenerationId,
        State == GroupState.Empty ? null : ProtocolName,
        State == GroupState.Empty ? null : LeaderId,
        CurrentStateTimestampMs ?? -1,
        Members.Values.Select(m => new GroupMemberValue(
            m.MemberId, m.GroupInstanceId, m.ClientId, m.ClientHost, m.RebalanceTimeoutMs, m.SessionTimeoutMs,
            m.MetadataFor(ProtocolName), m.Assignment)).ToList());

    public void CheckInvariants()
    {
        switch (State)
        {
            case GroupState.Empty:
                Assert(Members.Count == 0, $"Empty group {GroupId} has members");
                Assert(PendingSyncMembers.Count == 0, $"Empty group {GroupId} waits for syncs");
                break;
            case GroupState.PreparingRebalance:
                Assert(Members.Values.All(m => m.AwaitingSyncToken is null), $"group {GroupId} has a SyncGroup waiting during PreparingRebalance");
                Assert(JoinDeadlineMs is not null, $"group {GroupId} is rebalancing without a deadline");
                break;
            case GroupState.CompletingRebalance:
            case GroupState.Stable:
                Assert(Members.Count > 0, $"group {GroupId} in {State} without members");
                Assert(LeaderId is not null && Members.ContainsKey(LeaderId), $"leader of {GroupId} is not a member");
                Assert(Members.Values.All(m => m.AwaitingJoinToken is null), $"group {GroupId} has a JoinGroup waiting in {State}");
                Assert(ProtocolName is not null, $"group {GroupId} in {State} without a protocol");
                if (State == GroupState.Stable)
                {
                    Assert(Members.Values.All(m => m.AwaitingSyncToken is null), $"group {GroupId} has a SyncGroup waiting in Stable");
                    Assert(Members.Values.All(m => m.AssignmentGeneration == GenerationId), $"group {GroupId} has an assignment from an older generation in Stable");
                }
                break;
            case GroupState.Dead:
                break;
        }
        foreach (var (instance, memberId) in StaticMembers)
        {
            Assert(Members.TryGetValue(memberId, out var m) && m.GroupInstanceId == instance, $"static member {instance} of {GroupId} maps to a missing member");
        }
        foreach (var m in Members.Values)
        {
            if (m.GroupInstanceId is not null) Assert(StaticMembers.TryGetValue(m.GroupInstanceId, out var id) && id == m.MemberId, $"member {m.MemberId} is not the current owner of {m.GroupInstanceId}");
            Assert(!PendingMembers.ContainsKey(m.MemberId), $"member {m.MemberId} is both joined and pending");
        }
    }

    /// <summary>Stays on in Release: a broken group state must stop the coordinator rather than answer wrongly.</summary>
    public static void Assert(bool condition, string message)
    {
        if (!condition) throw new InvalidOperationException("group coordinator invariant violated: " + message);
    }
}
