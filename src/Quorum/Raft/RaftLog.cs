namespace Kraft.Quorum.Raft;

/// <summary>
/// The in-memory replicated log of one core: entries [StartOffset, EndOffset), preceded by the
/// latest snapshot which covers everything below <see cref="StartOffset"/>. Pure data structure:
/// the core tells the driver (through <see cref="Ready"/>) how to mirror each change on disk.
/// Invariants: offsets are dense; epochs never decrease along the log; the epoch "at"
/// StartOffset - 1 is the snapshot's epoch (0 for an empty log without snapshot).
/// Owned by the thread that owns the core.
/// </summary>
public sealed class RaftLog
{
    private readonly List<LogEntry> _entries = [];
    private long _startOffset;
    private int _startEpoch;

    /// <summary>Creates an empty log that starts at offset 0.</summary>
    public RaftLog()
    {
    }

    /// <summary>
    /// Rebuilds the log from what a driver recovered: an optional snapshot and the entries found on
    /// disk. Entries covered by the snapshot are dropped; entries after it are kept only if they
    /// continue the snapshot (the entry at the snapshot's end offset - 1 has the snapshot's epoch, or
    /// the entries start exactly at the snapshot's end), because a crash between installing a snapshot
    /// and resetting the log can leave older, possibly diverging, entries behind.
    /// </summary>
    public static RaftLog Recover(OffsetAndEpoch? snapshotId, IEnumerable<LogEntry> entries)
    {
        var log = new RaftLog();
        var list = entries.ToList();
        for (int i = 1; i < list.Count; i++)
        {
            Invariant.Check(list[i].Offset == list[i - 1].Offset + 1, "recovered log entries must be dense");
            Invariant.Check(list[i].Epoch >= list[i - 1].Epoch, "recovered log epochs must not decrease");
        }
        if (snapshotId is { } id)
        {
            log._startOffset = id.Offset;
            log._startEpoch = id.Epoch;
            bool continues = list.Count > 0
                && ((list[0].Offset == id.Offset && list[0].Epoch >= id.Epoch)
                    || list.Any(e => e.Offset == id.Offset - 1 && e.Epoch == id.Epoch));
            if (continues)
            {
                foreach (var e in list.Where(e => e.Offset >= id.Offset)) log._entries.Add(e);
            }
        }
        else
        {
            Invariant.Check(list.Count == 0 || list[0].Offset == 0, "a log without snapshot must start at offset 0");
            log._entries.AddRange(list);
        }
        return log;
    }

    /// <summary>The first offset held in memory (the latest snapshot's end offset, or 0).</summary>
    public long StartOffset => _startOffset;

    /// <summary>The epoch of the entry just before <see cref="StartOffset"/> (the snapshot's epoch, or 0).</summary>
    public int StartEpoch => _startEpoch;

    /// <summary>The offset the next appended entry gets.</summary>
    public long EndOffset => _startOffset + _entries.Count;

    /// <summary>The epoch of the last entry (or of the snapshot when no entries follow it).</summary>
    public int LastEpoch => _entries.Count > 0 ? _entries[^1].Epoch : _startEpoch;

    /// <summary>(EndOffset, LastEpoch): what a Fetch or Vote advertises.</summary>
    public OffsetAndEpoch EndOffsetAndEpoch => new(EndOffset, LastEpoch);

    /// <summary>Number of entries in memory.</summary>
    public int Count => _entries.Count;

    /// <summary>Returns the entry at <paramref name="offset"/>, which must be in [StartOffset, EndOffset).</summary>
    public LogEntry Get(long offset)
    {
        Invariant.Check(offset >= _startOffset && offset < EndOffset, offset, o => $"offset {o} outside the log");
        return _entries[(int)(offset - _startOffset)];
    }

    /// <summary>
    /// The epoch of the entry at <paramref name="offset"/>, for offsets in [StartOffset - 1, EndOffset);
    /// StartOffset - 1 answers with the snapshot's epoch. Null outside that range.
    /// </summary>
    public int? EpochAt(long offset)
    {
        if (offset == _startOffset - 1) return _startEpoch;
        if (offset < _startOffset || offset >= EndOffset) return null;
        return _entries[(int)(offset - _startOffset)].Epoch;
    }

    /// <summary>Appends one entry at <see cref="EndOffset"/>.</summary>
    public void Append(LogEntry entry)
    {
        Invariant.Check(entry.Offset == EndOffset, entry, e => $"append at offset {e.Offset} but the log ends at {EndOffset}");
        Invariant.Check(entry.Epoch >= LastEpoch, entry, e => $"append of epoch {e.Epoch} after epoch {LastEpoch}");
        _entries.Add(entry);
    }

    /// <summary>Removes every entry at or above <paramref name="endOffset"/>.</summary>
    public void TruncateTo(long endOffset)
    {
        Invariant.Check(endOffset >= _startOffset, endOffset, o => $"cannot truncate to {o}, below the log start {_startOffset}");
        if (endOffset >= EndOffset) return;
        _entries.RemoveRange((int)(endOffset - _startOffset), (int)(EndOffset - endOffset));
    }

    /// <summary>
    /// Drops the entries a new snapshot covers. The snapshot must end inside the log (or at its end)
    /// and agree with the entry before its end offset.
    /// </summary>
    public void DeletePrefix(OffsetAndEpoch snapshotId)
    {
        Invariant.Check(snapshotId.Offset >= _startOffset && snapshotId.Offset <= EndOffset, "a snapshot must end inside the log to delete a prefix");
        Invariant.Check(EpochAt(snapshotId.Offset - 1) == snapshotId.Epoch, "the snapshot's epoch must match the log");
        _entries.RemoveRange(0, (int)(snapshotId.Offset - _startOffset));
        _startOffset = snapshotId.Offset;
        _startEpoch = snapshotId.Epoch;
    }

    /// <summary>Replaces the whole log by an installed snapshot: no entries, starting at its end offset.</summary>
    public void ResetTo(OffsetAndEpoch snapshotId)
    {
        _entries.Clear();
        _startOffset = snapshotId.Offset;
        _startEpoch = snapshotId.Epoch;
    }

    /// <summary>
    /// Kafka's epoch lookup (OffsetsForLeaderEpoch semantics): the largest epoch e' &lt;= <paramref name="epoch"/>
    /// known to this log and the end offset of e' (the offset of the first entry with a larger epoch,
    /// or the log end). Null when every epoch &lt;= <paramref name="epoch"/> lies inside the snapshot, so
    /// the answer cannot be given from the log (the fetcher must then load the snapshot).
    /// </summary>
    public OffsetAndEpoch? EndOffsetForEpoch(int epoch)
    {
        if (epoch >= LastEpoch) return new OffsetAndEpoch(EndOffset, LastEpoch);
        // Walk back over entries whose epoch is larger than the one asked for. Bounded by the log size.
        int i = _entries.Count - 1;
        while (i >= 0 && _entries[i].Epoch > epoch) i--;
        if (i >= 0) return new OffsetAndEpoch(_entries[i].Offset + 1, _entries[i].Epoch);
        if (epoch >= _startEpoch) return new OffsetAndEpoch(_startOffset, _startEpoch);
        return null;
    }

    /// <summary>Returns up to <paramref name="maxEntries"/> entries from <paramref name="fromOffset"/>.</summary>
    public IReadOnlyList<LogEntry> Read(long fromOffset, int maxEntries)
    {
        Invariant.Check(fromOffset >= _startOffset && fromOffset <= EndOffset, fromOffset, o => $"read from {o} outside [{_startOffset}, {EndOffset}]");
        int from = (int)(fromOffset - _startOffset);
        int count = Math.Min(maxEntries, _entries.Count - from);
        return count <= 0 ? [] : _entries.GetRange(from, count);
    }
}
