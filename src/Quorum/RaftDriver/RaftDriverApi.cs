using Kraft.Quorum.Raft;

namespace Kraft.Quorum.RaftDriver;

/// <summary>
/// Carries Raft messages to other nodes. <see cref="Send"/> must not block the driver thread; it may
/// drop messages (Raft retries on its own timers), but must not reorder messages to one peer on purpose.
/// </summary>
public interface IRaftTransport
{
    /// <summary>Queues <paramref name="message"/> for <see cref="RaftMessage.To"/>; never blocks, may drop.</summary>
    void Send(RaftMessage message);
}

/// <summary>
/// The replicated state machine (the controller's metadata image). Every callback runs on the driver
/// thread, one at a time, in log order; a callback that throws stops the node (fail fast).
/// </summary>
public interface IRaftStateMachine
{
    /// <summary>The node's role, epoch or leader changed.</summary>
    void OnRoleChange(RoleInfo role);

    /// <summary>Newly committed entries (Data and LeaderChange, in offset order); every entry below <paramref name="highWatermark"/> that this node holds is now applied.</summary>
    void OnCommitted(IReadOnlyList<LogEntry> entries, long highWatermark);

    /// <summary>Replace the whole state with <paramref name="snapshot"/> (after a restart, or one installed from the leader) before any later OnCommitted.</summary>
    void OnSnapshotLoad(RaftSnapshot snapshot);

    /// <summary>The state as of <paramref name="endOffset"/> (which is everything applied so far), or null to skip this snapshot.</summary>
    byte[]? TakeSnapshot(long endOffset);
}

/// <summary>Where a node keeps its Raft state and how it runs.</summary>
public sealed record RaftDriverOptions(string Directory, RaftOptions Raft)
{
    /// <summary>
    /// Also take a snapshot after this many entries were applied since the last one. Off by default: Kafka triggers
    /// metadata snapshots by bytes (below) and time only, and each snapshot costs the quorum a stall (three voters
    /// creating and fsyncing a file at the same offset: 10-15 ms of delayed commits on the development VM), which a
    /// count of 10,000 small entries made happen every 10 s at 1,000 records/s. Tests set it to snapshot often.
    /// </summary>
    public int SnapshotEveryEntries { get; init; } = int.MaxValue;

    /// <summary>
    /// Also take a snapshot once the payloads applied since the last one add up to this many bytes (Kafka's
    /// <c>metadata.log.max.record.bytes.between.snapshots</c>, default 20 MiB); whichever bound comes first.
    /// </summary>
    public long SnapshotEveryBytes { get; init; } = 20L << 20;

    /// <summary>Received messages waiting for the driver thread beyond this many are dropped (and counted).</summary>
    public int InboundQueueCapacity { get; init; } = 10_000;

    /// <summary>Proposals waiting for their commit beyond this many are refused with BACKPRESSURE.</summary>
    public int MaxPendingProposals { get; init; } = 100_000;

    /// <summary>
    /// The payload of the barrier entry <see cref="RaftDriver.ReadBarrierAsync"/> proposes (the controller
    /// sets the encoded metadata no-op record). Null selects the write-free fetch-round barrier, which has a
    /// known hole; see ReadBarrierAsync.
    /// </summary>
#pragma warning disable CA1819 // An immutable-by-convention payload handed to the core as is.
    public byte[]? ReadBarrierPayload { get; init; }
#pragma warning restore CA1819

    /// <summary>How often, at most, the driver thread wakes up without input to tick the core.</summary>
    public int TickIntervalMs { get; init; } = 5;
}

/// <summary>
/// How a proposal ended. <see cref="Committed"/> means the entry at <see cref="Offset"/> committed with
/// <see cref="Epoch"/>. Otherwise <see cref="Error"/> is one of <see cref="ProposalErrors"/>.
/// </summary>
public sealed record ProposalOutcome(bool Committed, long Offset, int Epoch, string? Error);

/// <summary>The <see cref="ProposalOutcome.Error"/> values. Only LOST, NOT_LEADER and BACKPRESSURE say for sure that nothing was committed.</summary>
public static class ProposalErrors
{
    /// <summary>This node is not the leader; nothing was appended (Kafka: NOT_CONTROLLER).</summary>
    public const string NotLeader = "NOT_LEADER";

    /// <summary>Too many proposals in flight; nothing was appended.</summary>
    public const string Backpressure = "BACKPRESSURE";

    /// <summary>The entry was truncated or replaced by another epoch's entry: it is definitely not committed.</summary>
    public const string Lost = "LOST";

    /// <summary>
    /// This node stopped leading before the entry committed. The outcome is UNKNOWN: the new leader may
    /// still commit the entry. Answer the client with a retriable error that does not promise failure
    /// (Kafka's controller answers NOT_CONTROLLER in this case too).
    /// </summary>
    public const string LeadershipLost = "LEADERSHIP_LOST";

    /// <summary>The driver stopped (disposed or failed) before the outcome was known; outcome unknown.</summary>
    public const string Stopped = "STOPPED";
}
