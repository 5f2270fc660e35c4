namespace Kraft.Quorum.Raft;

/// <summary>
/// Kafka error codes the Raft RPCs use (values as in Kafka's <c>Errors</c>; append-only because
/// they reach the wire).
/// </summary>
public enum RaftError : short
{
    /// <summary>NONE.</summary>
    None = 0,
    /// <summary>OFFSET_OUT_OF_RANGE.</summary>
    OffsetOutOfRange = 1,
    /// <summary>NOT_LEADER_OR_FOLLOWER: the receiver is not the leader; LeaderId/LeaderEpoch say who is, if known.</summary>
    NotLeaderOrFollower = 6,
    /// <summary>INVALID_REQUEST.</summary>
    InvalidRequest = 42,
    /// <summary>INCONSISTENT_VOTER_SET: the sender or receiver is not a voter.</summary>
    InconsistentVoterSet = 68,
    /// <summary>FENCED_LEADER_EPOCH: the request's epoch is older than the receiver's.</summary>
    FencedLeaderEpoch = 74,
    /// <summary>UNKNOWN_LEADER_EPOCH: the request's epoch is newer than the receiver's.</summary>
    UnknownLeaderEpoch = 75,
    /// <summary>SNAPSHOT_NOT_FOUND.</summary>
    SnapshotNotFound = 98,
    /// <summary>POSITION_OUT_OF_RANGE.</summary>
    PositionOutOfRange = 99,
}

/// <summary>
/// A Raft RPC between two nodes. Requests get a fresh <see cref="CorrelationId"/> from the sender;
/// a response carries the correlation id of the request it answers, which is how a node ignores
/// stale or duplicated responses (the driver maps it onto the Kafka request header's correlation id).
/// </summary>
public abstract record RaftMessage(NodeId From, NodeId To, long CorrelationId);

/// <summary>
/// Vote (API key 52). <see cref="PreVote"/> is KIP-996's pre-vote: the receiver changes no state and
/// <see cref="CandidateEpoch"/> is the epoch the sender would stand in (its epoch + 1).
/// <see cref="LastOffsetEpoch"/>/<see cref="LastOffset"/> are the candidate's last log epoch and log
/// end offset, for the log-up-to-date check.
/// </summary>
public sealed record VoteRequest(NodeId From, NodeId To, long CorrelationId, int CandidateEpoch, int LastOffsetEpoch, long LastOffset, bool PreVote)
    : RaftMessage(From, To, CorrelationId);

/// <summary>Vote response. LeaderEpoch/LeaderId are the responder's current epoch and known leader.</summary>
public sealed record VoteResponse(NodeId From, NodeId To, long CorrelationId, RaftError ErrorCode, int LeaderEpoch, NodeId? LeaderId, bool VoteGranted, bool PreVote)
    : RaftMessage(From, To, CorrelationId);

/// <summary>BeginQuorumEpoch (API key 53): a new leader announces itself to the voters.</summary>
public sealed record BeginQuorumEpochRequest(NodeId From, NodeId To, long CorrelationId, int LeaderEpoch, NodeId LeaderId)
    : RaftMessage(From, To, CorrelationId);

/// <summary>BeginQuorumEpoch response.</summary>
public sealed record BeginQuorumEpochResponse(NodeId From, NodeId To, long CorrelationId, RaftError ErrorCode, int LeaderEpoch, NodeId? LeaderId)
    : RaftMessage(From, To, CorrelationId);

/// <summary>
/// EndQuorumEpoch (API key 54): a resigning leader tells the voters to elect a successor now.
/// <see cref="PreferredSuccessors"/> is ordered best first (largest log end offset first); a voter
/// at position i waits a back-off that grows with i, so the best successor usually wins at once.
/// </summary>
public sealed record EndQuorumEpochRequest(NodeId From, NodeId To, long CorrelationId, int LeaderEpoch, NodeId LeaderId, IReadOnlyList<NodeId> PreferredSuccessors)
    : RaftMessage(From, To, CorrelationId);

/// <summary>EndQuorumEpoch response.</summary>
public sealed record EndQuorumEpochResponse(NodeId From, NodeId To, long CorrelationId, RaftError ErrorCode, int LeaderEpoch, NodeId? LeaderId)
    : RaftMessage(From, To, CorrelationId);

/// <summary>
/// Fetch (API key 1) of the metadata partition: the replica id is <see cref="RaftMessage.From"/>.
/// <see cref="FetchOffset"/> is the follower's log end offset and acknowledges (durably) every entry
/// below it; <see cref="LastFetchedEpoch"/> is the epoch of the entry at FetchOffset - 1 (or of the
/// snapshot when the log is empty).
/// </summary>
public sealed record FetchRequest(NodeId From, NodeId To, long CorrelationId, int CurrentLeaderEpoch, long FetchOffset, int LastFetchedEpoch)
    : RaftMessage(From, To, CorrelationId);

/// <summary>
/// Fetch response. At most one of <see cref="DivergingEpoch"/> (truncate to it, KIP-595),
/// <see cref="SnapshotId"/> (fetch this snapshot, KIP-630) and non-empty <see cref="Records"/> is set.
/// </summary>
public sealed record FetchResponse(
    NodeId From, NodeId To, long CorrelationId, RaftError ErrorCode, int LeaderEpoch, NodeId? LeaderId,
    long HighWatermark, long LogStartOffset, OffsetAndEpoch? DivergingEpoch, OffsetAndEpoch? SnapshotId, IReadOnlyList<LogEntry> Records)
    : RaftMessage(From, To, CorrelationId);

/// <summary>FetchSnapshot (API key 59): one chunk of snapshot <see cref="SnapshotId"/> from <see cref="Position"/>.</summary>
public sealed record FetchSnapshotRequest(NodeId From, NodeId To, long CorrelationId, int CurrentLeaderEpoch, OffsetAndEpoch SnapshotId, long Position, int MaxBytes)
    : RaftMessage(From, To, CorrelationId);

/// <summary>FetchSnapshot response: bytes [Position, Position + UnalignedRecords.Length) of a snapshot of <see cref="Size"/> bytes.</summary>
public sealed record FetchSnapshotResponse(
    NodeId From, NodeId To, long CorrelationId, RaftError ErrorCode, int LeaderEpoch, NodeId? LeaderId,
    OffsetAndEpoch SnapshotId, long Size, long Position, byte[] UnalignedRecords)
    : RaftMessage(From, To, CorrelationId);
