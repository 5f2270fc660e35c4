using Kraft.Quorum.Raft;

namespace Kraft.Simulation;

/// <summary>
/// A simulated disk for one node. The quorum-state file and snapshot files are replaced atomically
/// (write temp, fsync, rename), so a crash keeps either the old or the new version. Log appends sit
/// in an unsynced buffer until fsync; on a crash the buffer is torn: a random prefix of it survives
/// (a partly written entry is cut off by recovery, as a CRC check would do), the rest is lost.
/// Truncations and prefix deletions are fsynced by the driver right away, so they are durable.
/// </summary>
public sealed class SimDisk
{
    private readonly List<LogEntry> _durable = [];
    private readonly List<LogEntry> _unsynced = [];

    /// <summary>The last atomically written quorum state.</summary>
    public PersistentQuorumState QuorumState { get; private set; } = PersistentQuorumState.Initial;

    /// <summary>The last atomically written snapshot.</summary>
    public RaftSnapshot? Snapshot { get; private set; }

    /// <summary>Number of entries whose fsync has not happened yet.</summary>
    public int UnsyncedCount => _unsynced.Count;

    /// <summary>Durable entries (for tests and checks).</summary>
    public IReadOnlyList<LogEntry> DurableEntries => _durable;

    public void WriteQuorumState(PersistentQuorumState state) => QuorumState = state;

    public void WriteSnapshot(RaftSnapshot snapshot) => Snapshot = snapshot;

    public void ResetLog()
    {
        _durable.Clear();
        _unsynced.Clear();
    }

    public void Truncate(long endOffset)
    {
        _durable.RemoveAll(e => e.Offset >= endOffset);
        _unsynced.RemoveAll(e => e.Offset >= endOffset);
    }

    public void DeleteBefore(long offset)
    {
        _durable.RemoveAll(e => e.Offset < offset);
        _unsynced.RemoveAll(e => e.Offset < offset);
    }

    public void Append(IReadOnlyList<LogEntry> entries)
    {
        foreach (var e in entries)
        {
            long expected = _unsynced.Count > 0 ? _unsynced[^1].Offset + 1 : _durable.Count > 0 ? _durable[^1].Offset + 1 : e.Offset;
            if (e.Offset != expected) throw new InvalidOperationException($"driver appended offset {e.Offset}, the disk log ends at {expected}");
            _unsynced.Add(e);
        }
    }

    public void Fsync()
    {
        _durable.AddRange(_unsynced);
        _unsynced.Clear();
    }

    /// <summary>Power loss: keeps a random prefix of the unsynced appends (a torn tail), loses the rest.</summary>
    public void Crash(SplitMix64Random random)
    {
        int keep = _unsynced.Count == 0 ? 0 : random.Next(_unsynced.Count + 1);
        _durable.AddRange(_unsynced.Take(keep));
        _unsynced.Clear();
    }

    /// <summary>What a restarting node reads back.</summary>
    public RecoveredState Recover()
    {
        if (_unsynced.Count != 0) throw new InvalidOperationException("recover after a crash only");
        return new RecoveredState(QuorumState, Snapshot, [.. _durable]);
    }
}
