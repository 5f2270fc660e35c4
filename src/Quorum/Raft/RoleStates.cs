namespace Kraft.Quorum.Raft;

/// <summary>
/// Role-specific volatile state. One subclass per role keeps each role's timers and bookkeeping
/// apart (instead of one class with a giant switch). All instances are owned by the core's thread
/// and replaced, never reused, on a role change.
/// </summary>
internal abstract class RoleState(int epoch)
{
    public int Epoch { get; } = epoch;

    public abstract RaftRole Role { get; }
}

/// <summary>
/// One outstanding request to the leader (Fetch or FetchSnapshot): at most one at a time, matched
/// by correlation id, re-sent after the request timeout.
/// </summary>
internal sealed class FetchTracker
{
    public long? OutstandingCorrelationId { get; set; }

    public long SentAtMs { get; set; }

    /// <summary>Earliest time to send the next request (retry back-off); 0 means now.</summary>
    public long NextSendAtMs { get; set; }
}

/// <summary>A snapshot being downloaded chunk by chunk from the leader.</summary>
internal sealed class SnapshotDownload(OffsetAndEpoch id)
{
    public OffsetAndEpoch Id { get; } = id;

    public MemoryStream Buffer { get; } = new();
}

internal sealed class UnattachedState(int epoch, long electionDeadlineMs) : RoleState(epoch)
{
    public override RaftRole Role => RaftRole.Unattached;

    /// <summary>Voters: when to become Prospective. Observers ignore it.</summary>
    public long ElectionDeadlineMs { get; set; } = electionDeadlineMs;

    /// <summary>Observers probe voters with Fetch to find the leader.</summary>
    public FetchTracker Probe { get; } = new();

    public int NextProbeIndex { get; set; }
}

internal sealed class ProspectiveState(int epoch, long deadlineMs, NodeId? previousLeader) : RoleState(epoch)
{
    public override RaftRole Role => RaftRole.Prospective;

    public long DeadlineMs { get; set; } = deadlineMs;

    /// <summary>The leader this node followed before its fetch timeout; it goes back to it after a lost pre-vote.</summary>
    public NodeId? PreviousLeader { get; } = previousLeader;

    public HashSet<NodeId> Granted { get; } = [];

    public HashSet<NodeId> Rejected { get; } = [];
}

internal sealed class CandidateState(int epoch, long deadlineMs) : RoleState(epoch)
{
    public override RaftRole Role => RaftRole.Candidate;

    public long DeadlineMs { get; set; } = deadlineMs;

    public HashSet<NodeId> Granted { get; } = [];

    public HashSet<NodeId> Rejected { get; } = [];

    /// <summary>True once a majority rejected: the candidate waits a random back-off, then tries again.</summary>
    public bool BackingOff { get; set; }
}

/// <summary>What the leader knows about one replica (voter or observer).</summary>
internal sealed class ReplicaProgress(NodeId id, bool isVoter, long nowMs)
{
    public NodeId Id { get; } = id;

    public bool IsVoter { get; } = isVoter;

    /// <summary>The replica's validated fetch offset: every entry below it matches the leader and is durable there. -1 = unknown.</summary>
    public long EndOffset { get; set; } = -1;

    /// <summary>Last time a Fetch/FetchSnapshot of this epoch arrived (starts at election time, as check-quorum's grace period).</summary>
    public long LastFetchMs { get; set; } = nowMs;

    public long LastCaughtUpMs { get; set; } = -1;

    /// <summary>Set once the replica has fetched or acknowledged BeginQuorumEpoch in this epoch.</summary>
    public bool KnowsLeader { get; set; }
}

/// <summary>A Fetch with nothing new to return, held until data arrives, the high watermark moves, or it expires.</summary>
internal sealed record ParkedFetch(FetchRequest Request, long ExpiresAtMs);

internal sealed class LeaderState(int epoch, long epochStartOffset) : RoleState(epoch)
{
    public override RaftRole Role => RaftRole.Leader;

    /// <summary>Offset of this epoch's LeaderChange entry: the high watermark may only pass it (Raft's own-epoch commit rule).</summary>
    public long EpochStartOffset { get; } = epochStartOffset;

    public Dictionary<NodeId, ReplicaProgress> Replicas { get; } = [];

    public Dictionary<NodeId, ParkedFetch> Parked { get; } = [];

    public long NextBeginEpochResendMs { get; set; }
}

internal sealed class FollowerState(int epoch, NodeId leader, long nowMs) : RoleState(epoch)
{
    public override RaftRole Role => RaftRole.Follower;

    public NodeId Leader { get; } = leader;

    /// <summary>Last successful Fetch/FetchSnapshot response from the leader (starts when the leader became known).</summary>
    public long LastFetchSuccessMs { get; set; } = nowMs;

    /// <summary>True after the first successful fetch in this state; only then does this node refuse pre-votes for its leader.</summary>
    public bool HasFetched { get; set; }

    public FetchTracker Fetch { get; } = new();

    public SnapshotDownload? Download { get; set; }
}

internal sealed class ResignedState(int epoch, long deadlineMs, IReadOnlyList<NodeId> successors) : RoleState(epoch)
{
    public override RaftRole Role => RaftRole.Resigned;

    public long DeadlineMs { get; set; } = deadlineMs;

    public IReadOnlyList<NodeId> Successors { get; } = successors;

    public HashSet<NodeId> Acknowledged { get; } = [];

    public long NextResendMs { get; set; }
}
