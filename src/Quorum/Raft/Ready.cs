namespace Kraft.Quorum.Raft;

/// <summary>
/// Everything the driver must do after a batch of inputs, in this order:
/// <list type="number">
/// <item>write <see cref="QuorumState"/> atomically if set;</item>
/// <item>write <see cref="SnapshotToWrite"/> durably (atomically) if set;</item>
/// <item>if <see cref="ResetLogTo"/> is set, delete every log entry (the log now starts and ends there);</item>
/// <item>if <see cref="TruncateLogTo"/> is set, delete the entries at and above it;</item>
/// <item>if <see cref="DeleteLogBefore"/> is set, delete the entries below it (a snapshot covers them);</item>
/// <item>append <see cref="EntriesToAppend"/> and fsync the log; the messages <see cref="MaySendBeforeDurable"/>
/// allows may leave between the append and the fsync;</item>
/// <item>only then send the other <see cref="Messages"/> (vote grants and fetch offsets acknowledge durable state);</item>
/// <item>if <see cref="SnapshotToLoad"/> is set, reset the state machine from it; then apply
/// <see cref="CommittedEntries"/> in order (skip <see cref="LogEntryKind.LeaderChange"/> entries);</item>
/// <item>call <see cref="RaftNode.Advance"/> with this bundle before giving the core anything else.</item>
/// </list>
/// A crash anywhere in between is safe: nothing that depends on the unfinished steps has left the node.
/// </summary>
public sealed class Ready
{
    /// <summary>Durable election state to write, or null when unchanged.</summary>
    public PersistentQuorumState? QuorumState { get; init; }

    /// <summary>A snapshot to store (created locally or received from the leader), or null.</summary>
    public RaftSnapshot? SnapshotToWrite { get; init; }

    /// <summary>When set, the log is emptied and starts at this offset (after a snapshot install).</summary>
    public long? ResetLogTo { get; init; }

    /// <summary>When set, entries with offset &gt;= this are removed (divergence with the leader).</summary>
    public long? TruncateLogTo { get; init; }

    /// <summary>When set, entries with offset &lt; this are removed (covered by <see cref="SnapshotToWrite"/> or an earlier snapshot).</summary>
    public long? DeleteLogBefore { get; init; }

    /// <summary>Entries to append after the truncations, in offset order; fsync before sending messages.</summary>
    public IReadOnlyList<LogEntry> EntriesToAppend { get; init; } = [];

    /// <summary>Messages to send once everything above is durable.</summary>
    public IReadOnlyList<RaftMessage> Messages { get; init; } = [];

    /// <summary>A snapshot the state machine must load before applying <see cref="CommittedEntries"/>.</summary>
    public RaftSnapshot? SnapshotToLoad { get; init; }

    /// <summary>Newly committed entries (at and above the previous applied offset, below <see cref="HighWatermark"/>).</summary>
    public IReadOnlyList<LogEntry> CommittedEntries { get; init; } = [];

    /// <summary>The node's high watermark after this bundle (never decreases within one run of the core).</summary>
    public long HighWatermark { get; init; }

    /// <summary>The node's role, epoch and leader, when any of them changed since the previous bundle.</summary>
    public RoleInfo? RoleChange { get; init; }

    /// <summary>The log end offset the core had when it built this bundle (the driver's log ends here after step 6).</summary>
    public long LogEndOffset { get; init; }

    /// <summary>
    /// True when <paramref name="message"/> may be sent before this bundle's log append is fsynced (Raft thesis
    /// 10.2.1: the leader writes to its own disk in parallel with replicating to its followers). That holds for a
    /// FetchResponse when the bundle changes nothing but appends: the epoch, leader and log prefix it describes are
    /// already durable, and the entries it carries acknowledge nothing. The leader counts its own log end towards the
    /// high watermark only after <see cref="RaftNode.Advance"/>, i.e. after its fsync, so an entry reaches the high
    /// watermark only once a majority holds it durably, with or without the leader. If the leader crashes before its
    /// fsync, followers may hold uncommitted entries it lost; the log-up-to-date vote check and truncation on
    /// divergence handle that as for any uncommitted entry. Everything else (vote grants, fetch requests carrying a
    /// durable offset, answers in a bundle that writes quorum state, a snapshot or truncates) waits for the fsync.
    /// </summary>
    public bool MaySendBeforeDurable(RaftMessage message) =>
        message is FetchResponse && QuorumState is null && SnapshotToWrite is null && ResetLogTo is null && TruncateLogTo is null;
}

/// <summary>What the driver recovered from disk when the node starts.</summary>
public sealed record RecoveredState(PersistentQuorumState QuorumState, RaftSnapshot? Snapshot, IReadOnlyList<LogEntry> Entries)
{
    /// <summary>A node starting for the first time.</summary>
    public static RecoveredState Empty { get; } = new(PersistentQuorumState.Initial, null, []);
}

/// <summary>Outcome of <see cref="RaftNode.Propose"/>.</summary>
public enum ProposeStatus
{
    /// <summary>Appended to the leader's log; it commits once the high watermark passes <see cref="ProposeResult.LastOffset"/> in <see cref="ProposeResult.Epoch"/>.</summary>
    Accepted,
    /// <summary>This node is not the leader (Kafka: NOT_CONTROLLER / NOT_LEADER_OR_FOLLOWER).</summary>
    NotLeader,
    /// <summary>Too many uncommitted entries; try again later.</summary>
    Backpressure,
}

/// <summary>
/// Result of a proposal. An accepted proposal is committed when the high watermark exceeds
/// <see cref="LastOffset"/> and the entry at that offset still has epoch <see cref="Epoch"/>; it is
/// lost if the node loses its leadership before that (the entry is truncated).
/// </summary>
public readonly record struct ProposeResult(ProposeStatus Status, long BaseOffset, long LastOffset, int Epoch);
