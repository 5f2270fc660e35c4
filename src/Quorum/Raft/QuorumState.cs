namespace Kraft.Quorum.Raft;

/// <summary>
/// The election state a node keeps durably (Kafka's <c>quorum-state</c> file): the current epoch,
/// whom it voted for in that epoch, and the leader it knows for that epoch. The driver writes it
/// atomically (temporary file, fsync, rename, fsync the directory) before it sends any message of the
/// same <see cref="Ready"/>, so that a vote or an epoch is never forgotten after it was acted upon.
/// Negative space: within one epoch, <see cref="VotedFor"/> goes at most once from null to a node.
/// </summary>
public sealed record PersistentQuorumState(int Epoch, NodeId? VotedFor, NodeId? LeaderId)
{
    /// <summary>The state of a node that has never run.</summary>
    public static readonly PersistentQuorumState Initial = new(0, null, null);
}

/// <summary>
/// The roles of a KRaft node (KIP-595, with KIP-996's Prospective pre-vote state).
/// </summary>
public enum RaftRole
{
    /// <summary>Knows the epoch but no leader; a voter waits for its election timeout, an observer probes voters.</summary>
    Unattached,
    /// <summary>A voter asking for pre-votes (no epoch change) before it disrupts the quorum.</summary>
    Prospective,
    /// <summary>A voter that bumped the epoch, voted for itself and asks for votes.</summary>
    Candidate,
    /// <summary>The one leader of its epoch.</summary>
    Leader,
    /// <summary>Knows the leader of its epoch and fetches from it.</summary>
    Follower,
    /// <summary>A leader that gave up its epoch (shutdown or failed check-quorum); it stays in the epoch until another election.</summary>
    Resigned,
}

/// <summary>
/// Every legal role change, written down in one place (as Kafka's QuorumState does). The core calls
/// <see cref="Check"/> on each transition; anything not listed here is a bug.
/// </summary>
public static class RoleTransitions
{
    /// <summary>
    /// Returns whether a node may go from (<paramref name="from"/>, <paramref name="fromEpoch"/>) to
    /// (<paramref name="to"/>, <paramref name="toEpoch"/>). <paramref name="isVoter"/> is false for observers.
    /// </summary>
    public static bool IsLegal(RaftRole from, int fromEpoch, RaftRole to, int toEpoch, bool isVoter)
    {
        if (toEpoch < fromEpoch) return false; // Epochs never go back.
        if (!isVoter && to is RaftRole.Prospective or RaftRole.Candidate or RaftRole.Leader or RaftRole.Resigned) return false;
        bool higher = toEpoch > fromEpoch;
        return to switch
        {
            // A higher epoch without a known leader; or, in the same epoch, a lost pre-vote, a vote
            // granted while prospective, an EndQuorumEpoch from the leader, or an observer losing its leader.
            RaftRole.Unattached => higher || from is RaftRole.Prospective or RaftRole.Follower or RaftRole.Unattached,
            // Election timeout (or EndQuorumEpoch back-off) in the same epoch; the pre-vote proposes epoch + 1.
            RaftRole.Prospective => !higher && from is RaftRole.Unattached or RaftRole.Follower or RaftRole.Candidate or RaftRole.Resigned,
            // Only a won pre-vote bumps the epoch by exactly one and votes for itself.
            RaftRole.Candidate => from == RaftRole.Prospective && toEpoch == fromEpoch + 1,
            // Only a candidate that won a majority of its own epoch.
            RaftRole.Leader => from == RaftRole.Candidate && !higher,
            // A leader became known: any role at a higher epoch; in the same epoch only non-leaders that had none.
            RaftRole.Follower => higher || from is RaftRole.Unattached or RaftRole.Prospective or RaftRole.Candidate,
            // Only the leader of the same epoch resigns.
            RaftRole.Resigned => from == RaftRole.Leader && !higher,
            _ => false,
        };
    }

    /// <summary>Throws <see cref="RaftInvariantException"/> unless the transition is legal.</summary>
    public static void Check(RaftRole from, int fromEpoch, RaftRole to, int toEpoch, bool isVoter) =>
        Invariant.Check(IsLegal(from, fromEpoch, to, toEpoch, isVoter),
            $"illegal role transition {from}@{fromEpoch} -> {to}@{toEpoch} (voter: {isVoter})");
}

/// <summary>Who leads which epoch, as a node sees it; reported in <see cref="Ready.RoleChange"/>.</summary>
public sealed record RoleInfo(RaftRole Role, int Epoch, NodeId? LeaderId);
