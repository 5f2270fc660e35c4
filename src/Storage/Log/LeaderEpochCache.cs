using Kraft.Storage.Checkpoints;

namespace Kraft.Storage.Log;

/// <summary>
/// Maps each leader epoch to the first offset written in it (KIP-101, KIP-279). A follower asks
/// "where does epoch E end on the leader?" and truncates its log to that offset when its own log
/// diverges. Entries are strictly increasing in both epoch and start offset. Persisted with
/// <see cref="Checkpoint.LeaderEpochs"/>. Owned by its <see cref="SegmentedLog"/>, which serializes access.
/// </summary>
public sealed class LeaderEpochCache
{
    public const int UndefinedEpoch = -1;
    public const long UndefinedOffset = -1;

    private readonly List<EpochEntry> _entries = [];
    private readonly CheckpointFile<EpochEntry>? _file;

    public LeaderEpochCache(CheckpointFile<EpochEntry>? file)
    {
        _file = file;
        if (file is not null)
        {
            foreach (var e in file.Read())
            {
                if (_entries.Count > 0 && (e.Epoch <= _entries[^1].Epoch || e.StartOffset < _entries[^1].StartOffset))
                {
                    throw new CheckpointFormatException(file.Path, 3 + _entries.Count, "epochs and start offsets must increase");
                }
                _entries.Add(e);
            }
        }
    }

    public IReadOnlyList<EpochEntry> Entries => _entries;

    public int LatestEpoch => _entries.Count == 0 ? UndefinedEpoch : _entries[^1].Epoch;

    /// <summary>Records that <paramref name="epoch"/> starts at <paramref name="startOffset"/>, if it is newer than the latest epoch.</summary>
    public bool Assign(int epoch, long startOffset)
    {
        if (epoch < 0 || (_entries.Count > 0 && epoch <= _entries[^1].Epoch))
        {
            return false;
        }
        // An entry starting at or after the new start was written by an epoch whose data has since been truncated.
        _entries.RemoveAll(e => e.StartOffset >= startOffset);
        _entries.Add(new EpochEntry(epoch, startOffset));
        Flush();
        return true;
    }

    /// <summary>
    /// The end offset of <paramref name="requestedEpoch"/>: the start of the next higher epoch, or the log end
    /// offset for the latest epoch, paired with the largest epoch at or below the requested one (KIP-279).
    /// Returns (UndefinedEpoch, UndefinedOffset) when the requested epoch is newer than any known.
    /// </summary>
    public (int Epoch, long EndOffset) EndOffsetFor(int requestedEpoch, long logEndOffset)
    {
        if (requestedEpoch == UndefinedEpoch || _entries.Count == 0)
        {
            return (UndefinedEpoch, UndefinedOffset);
        }
        if (requestedEpoch == _entries[^1].Epoch)
        {
            return (requestedEpoch, logEndOffset);
        }
        int higher = _entries.FindIndex(e => e.Epoch > requestedEpoch);
        if (higher < 0)
        {
            return (UndefinedEpoch, UndefinedOffset);
        }
        return higher == 0
            ? (requestedEpoch, _entries[0].StartOffset)
            : (_entries[higher - 1].Epoch, _entries[higher].StartOffset);
    }

    /// <summary>After the log is truncated to <paramref name="endOffset"/>: forget epochs that started at or after it.</summary>
    public void TruncateFromEnd(long endOffset)
    {
        if (_entries.RemoveAll(e => e.StartOffset >= endOffset) > 0)
        {
            Flush();
        }
    }

    /// <summary>After the log start moves to <paramref name="startOffset"/>: drop older epochs, keeping the one covering it.</summary>
    public void TruncateFromStart(long startOffset)
    {
        int covering = _entries.FindLastIndex(e => e.StartOffset <= startOffset);
        if (covering <= 0 && (covering < 0 || _entries[0].StartOffset == startOffset))
        {
            return;
        }
        var kept = new EpochEntry(_entries[covering].Epoch, startOffset);
        _entries.RemoveRange(0, covering + 1);
        _entries.Insert(0, kept);
        Flush();
    }

    public void Clear()
    {
        _entries.Clear();
        Flush();
    }

    private void Flush() => _file?.Write(_entries);
}
