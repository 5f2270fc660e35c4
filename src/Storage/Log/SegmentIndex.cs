using System.Buffers.Binary;

namespace Kraft.Storage.Log;

/// <summary>
/// The sparse index of one segment, file "BASEOFFSET.index": 16-byte entries
/// (relativeOffset int32, position int32, maxTimestampSoFar int64), big-endian, one entry per
/// index.interval.bytes of log. It serves both offset lookups (largest entry at or below an offset)
/// and time lookups (first entry whose running max timestamp reaches a target). The index is a
/// cache of the log: on any doubt it is rebuilt from the segment. Owned by its segment.
/// </summary>
internal sealed class SegmentIndex : IDisposable
{
    public const int EntrySize = 16;

    private readonly string _path;
    private FileStream _file;
    private readonly List<IndexEntry> _entries = [];
    private bool _dirty;
    private int _written; // entries already in the file

    public SegmentIndex(string path)
    {
        _path = path;
        _file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
    }

    public string Path => _path;

    public int Count => _entries.Count;

    public IndexEntry? Last => _entries.Count == 0 ? null : _entries[^1];

    /// <summary>Loads the entries from disk; returns false if the file is malformed (caller rebuilds).</summary>
    public bool TryLoad(long segmentSize)
    {
        _entries.Clear();
        long length = _file.Length;
        if (length % EntrySize != 0)
        {
            return false;
        }
        var buffer = new byte[length];
        RandomAccess.Read(_file.SafeFileHandle, buffer, 0);
        for (int p = 0; p < buffer.Length; p += EntrySize)
        {
            var entry = new IndexEntry(
                BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(p)),
                BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(p + 4)),
                BinaryPrimitives.ReadInt64BigEndian(buffer.AsSpan(p + 8)));
            if (entry.RelativeOffset < 0 || entry.Position < 0 || entry.Position >= segmentSize)
            {
                return false;
            }
            if (_entries.Count > 0)
            {
                var previous = _entries[^1];
                if (entry.RelativeOffset <= previous.RelativeOffset || entry.Position <= previous.Position || entry.MaxTimestamp < previous.MaxTimestamp)
                {
                    return false;
                }
            }
            _entries.Add(entry);
        }
        _written = _entries.Count;
        return true;
    }

    /// <summary>
    /// Adds an entry in memory; it reaches the file at the next <see cref="Flush"/> (roll, recovery-point checkpoint,
    /// close). Until then the segment is past the recovery point, where recovery rebuilds the index anyway, so
    /// appends do not pay for a second file write.
    /// </summary>
    public void Append(IndexEntry entry)
    {
        if (_entries.Count > 0)
        {
            var previous = _entries[^1];
            Invariant.Check(entry.RelativeOffset > previous.RelativeOffset && entry.Position > previous.Position,
                $"index entries must increase: {previous} then {entry} in {_path}");
        }
        _entries.Add(entry);
        _dirty = true;
    }

    /// <summary>The last entry with relative offset at or below <paramref name="relativeOffset"/>, or null.</summary>
    public IndexEntry? Floor(int relativeOffset)
    {
        int lo = 0, hi = _entries.Count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_entries[mid].RelativeOffset <= relativeOffset) { found = mid; lo = mid + 1; }
            else { hi = mid - 1; }
        }
        return found < 0 ? null : _entries[found];
    }

    /// <summary>The entry before the first whose running max timestamp reaches <paramref name="timestamp"/> (where a scan should start), or null to scan from 0.</summary>
    public IndexEntry? BeforeTimestamp(long timestamp)
    {
        int first = _entries.FindIndex(e => e.MaxTimestamp >= timestamp);
        if (first <= 0)
        {
            return first < 0 && _entries.Count > 0 ? _entries[^1] : null;
        }
        return _entries[first - 1];
    }

    /// <summary>Drops the entries at or after byte <paramref name="position"/> of the segment.</summary>
    public void TruncateToPosition(int position)
    {
        int keep = _entries.FindIndex(e => e.Position >= position);
        if (keep < 0)
        {
            return;
        }
        _entries.RemoveRange(keep, _entries.Count - keep);
        _written = Math.Min(_written, keep);
        _file.SetLength((long)_written * EntrySize);
        _dirty = true;
    }

    public void Reset()
    {
        _entries.Clear();
        _written = 0;
        _file.SetLength(0);
        _dirty = true;
    }

    /// <summary>Writes the entries not yet in the file and fsyncs it.</summary>
    public void Flush()
    {
        if (!_dirty)
        {
            return;
        }
        if (_written < _entries.Count)
        {
            var bytes = new byte[(_entries.Count - _written) * EntrySize];
            for (int i = _written; i < _entries.Count; i++)
            {
                var span = bytes.AsSpan((i - _written) * EntrySize, EntrySize);
                BinaryPrimitives.WriteInt32BigEndian(span, _entries[i].RelativeOffset);
                BinaryPrimitives.WriteInt32BigEndian(span[4..], _entries[i].Position);
                BinaryPrimitives.WriteInt64BigEndian(span[8..], _entries[i].MaxTimestamp);
            }
            RandomAccess.Write(_file.SafeFileHandle, bytes, (long)_written * EntrySize);
            _written = _entries.Count;
        }
        _file.Flush(flushToDisk: true);
        _dirty = false;
    }

    public void Dispose() => _file.Dispose();

    public void Delete()
    {
        _file.Dispose();
        File.Delete(_path);
    }

    public void Reopen()
    {
        _file = new FileStream(_path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
    }
}

/// <summary>One index entry: a batch starting at <see cref="Position"/> with base offset segmentBase + <see cref="RelativeOffset"/>.</summary>
internal readonly record struct IndexEntry(int RelativeOffset, int Position, long MaxTimestamp);
