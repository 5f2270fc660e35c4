namespace Kraft.Quorum.Raft;

/// <summary>
/// What an entry is. Values reach the disk: append-only. <see cref="LeaderChange"/> uses Kafka's
/// control record type number for LEADER_CHANGE (2).
/// </summary>
public enum LogEntryKind : byte
{
    /// <summary>A metadata record batch proposed by the state machine (the controller).</summary>
    Data = 0,
    /// <summary>The control entry a new leader appends in its epoch; committing it commits the epoch. Not applied by the state machine.</summary>
    LeaderChange = 2,
}

/// <summary>
/// One entry of the replicated log. Immutable once created; the payload array must not be changed
/// by anyone after it is handed to the core.
/// </summary>
public sealed record LogEntry(long Offset, int Epoch, LogEntryKind Kind, byte[] Payload);

/// <summary>A snapshot of the state machine covering every entry below <c>Id.Offset</c>.</summary>
public sealed record RaftSnapshot(OffsetAndEpoch Id, byte[] Bytes);
