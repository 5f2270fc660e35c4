using System.Buffers;
using System.Globalization;
using Kraft.Storage.Records;

namespace Kraft.Storage.Log;

/// <summary>
/// One segment of a log: "BASEOFFSET.log" (20-digit base offset) holding whole record batches end to
/// end, plus its <see cref="SegmentIndex"/>. Invariants: batches are contiguous from byte 0 to
/// <see cref="Size"/>, each valid, with increasing offsets all at or above <see cref="BaseOffset"/>
/// and below <see cref="NextOffset"/>; offsets fit in int32 relative to the base. Owned and
/// serialized by its <see cref="SegmentedLog"/>.
/// <para>
/// Preallocation: when <see cref="PreallocateBytes"/> is set, the file is zero-filled ahead of <see cref="Size"/>
/// in chunks, so the file can be longer than the data (<see cref="AllocatedBytes"/>). An fsync of data written into
/// already-written blocks of an unchanged file size commits no file-system metadata, which on ext4 makes an
/// fsync-per-append log about 1.5-2x faster than appends that grow the file (measured in docs/performance.md).
/// The zero tail is never data: a scan that meets zeros running to the end of the file of the last segment
/// takes them as the end of the log, and a segment is cut back to its data when it stops being the active one
/// and on a clean close, so only the active segment of a log can carry one.
/// </para>
/// </summary>
internal sealed class LogSegment : IDisposable
{
    private const int ScanChunkBytes = 64 * 1024;
    private static readonly byte[] Zeros = new byte[1 << 20];

    private readonly FileStream _file;
    private readonly SegmentIndex _index;
    private readonly int _indexIntervalBytes;
    private int _bytesSinceIndexEntry;
    private bool _dirty;

    private LogSegment(string directory, long baseOffset, int indexIntervalBytes, long nowMs)
    {
        BaseOffset = baseOffset;
        LogPath = System.IO.Path.Combine(directory, FileName(baseOffset, ".log"));
        _file = new FileStream(LogPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
        _index = new SegmentIndex(System.IO.Path.Combine(directory, FileName(baseOffset, ".index")));
        _indexIntervalBytes = indexIntervalBytes;
        Size = _file.Length;
        AllocatedBytes = Size;
        NextOffset = baseOffset;
        MaxTimestamp = -1;
        RollStartMs = nowMs;
    }

    public long BaseOffset { get; }
    public string LogPath { get; }
    public long Size { get; private set; }

    /// <summary>The file's length: <see cref="Size"/> plus any zero-filled preallocated tail.</summary>
    public long AllocatedBytes { get; private set; }

    /// <summary>Zero-fill this many bytes ahead of the data when an append would pass the allocated end (0: never).</summary>
    public int PreallocateBytes { get; set; }

    /// <summary>One past the last offset held (equals <see cref="BaseOffset"/> when empty).</summary>
    public long NextOffset { get; private set; }

    public long MaxTimestamp { get; private set; }

    /// <summary>When this segment started receiving appends (drives roll by segment.ms).</summary>
    public long RollStartMs { get; private set; }

    public bool IsEmpty => Size == 0;

    public static string FileName(long baseOffset, string extension) =>
        baseOffset.ToString("D20", CultureInfo.InvariantCulture) + extension;

    public static LogSegment Create(string directory, long baseOffset, int indexIntervalBytes, long nowMs)
    {
        string log = System.IO.Path.Combine(directory, FileName(baseOffset, ".log"));
        Invariant.Check(!File.Exists(log), $"segment {log} already exists");
        var segment = new LogSegment(directory, baseOffset, indexIntervalBytes, nowMs);
        segment._index.Reset();
        return segment;
    }

    /// <summary>
    /// Opens an existing segment whose contents are trusted (below the recovery point): loads the
    /// index, rebuilds it if it disagrees with the log, and scans only the tail after the last index
    /// entry to learn the next offset. Damage found while doing so is reported, not repaired.
    /// </summary>
    public static LogSegment OpenTrusted(string directory, long baseOffset, int indexIntervalBytes, long nowMs)
    {
        var segment = new LogSegment(directory, baseOffset, indexIntervalBytes, nowMs);
        if (!segment._index.TryLoad(segment.Size) || !segment.IndexAgreesWithLog())
        {
            segment.RebuildIndexTrusted();
            return segment;
        }
        var last = segment._index.Last;
        long start = last?.Position ?? 0;
        segment.MaxTimestamp = last?.MaxTimestamp ?? -1;
        var scan = segment.Scan(start, validate: true, rebuildIndex: false);
        if (scan.BadPosition >= 0)
        {
            throw new LogCorruptionException(segment.LogPath, scan.BadPosition, scan.NextOffset, scan.Reason);
        }
        segment.NextOffset = scan.NextOffset;
        segment.MaxTimestamp = Math.Max(segment.MaxTimestamp, scan.MaxTimestamp);
        return segment;
    }

    /// <summary>
    /// Opens a segment that may hold unsynced data (at or after the recovery point): scans and validates every
    /// batch from the start, rebuilds the index, and reports the first bad batch (position, offset, reason) without cutting.
    /// When <paramref name="isLast"/>, zeros running from a batch boundary to the end of the file are a preallocated
    /// tail (or the zero-filled unsynced extension a crash leaves), taken as the end of the data, not as damage.
    /// </summary>
    public static (LogSegment Segment, ScanResult Scan) OpenForRecovery(string directory, long baseOffset, int indexIntervalBytes, long nowMs, bool isLast = false)
    {
        var segment = new LogSegment(directory, baseOffset, indexIntervalBytes, nowMs);
        segment._index.Reset();
        var scan = segment.Scan(0, validate: true, rebuildIndex: true);
        if (isLast && scan.BadPosition >= 0 && segment.IsZeroFrom(scan.BadPosition))
        {
            segment.Size = scan.BadPosition;
            scan = scan with { BadPosition = -1, Reason = "" };
        }
        segment.NextOffset = scan.NextOffset;
        segment.MaxTimestamp = scan.MaxTimestamp;
        return (segment, scan);
    }

    /// <summary>True when every byte from <paramref name="position"/> to the end of the file is zero.</summary>
    private bool IsZeroFrom(long position)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ScanChunkBytes);
        try
        {
            while (position < AllocatedBytes)
            {
                int read = RandomAccess.Read(_file.SafeFileHandle, buffer.AsSpan(0, (int)Math.Min(ScanChunkBytes, AllocatedBytes - position)), position);
                if (read <= 0)
                {
                    return false;
                }
                if (buffer.AsSpan(0, read).ContainsAnyExcept((byte)0))
                {
                    return false;
                }
                position += read;
            }
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Cuts the file at <paramref name="position"/> (a torn tail) and fsyncs it.</summary>
    public void CutAt(long position)
    {
        _file.SetLength(position);
        Size = position;
        AllocatedBytes = position;
        _index.TruncateToPosition((int)position);
        _file.Flush(flushToDisk: true);
    }

    private bool IndexAgreesWithLog()
    {
        var last = _index.Last;
        if (last is null)
        {
            return true;
        }
        Span<byte> header = stackalloc byte[RecordBatch.HeaderSize];
        if (last.Value.Position + RecordBatch.HeaderSize > Size)
        {
            return false;
        }
        RandomAccess.Read(_file.SafeFileHandle, header, last.Value.Position);
        return RecordBatchFields.BaseOffset(header) == BaseOffset + last.Value.RelativeOffset;
    }

    private void RebuildIndexTrusted()
    {
        _index.Reset();
        var scan = Scan(0, validate: true, rebuildIndex: true);
        if (scan.BadPosition >= 0)
        {
            throw new LogCorruptionException(LogPath, scan.BadPosition, scan.NextOffset, scan.Reason);
        }
        NextOffset = scan.NextOffset;
        MaxTimestamp = scan.MaxTimestamp;
    }

    /// <summary>Appends whole, valid batches already carrying their final offsets.</summary>
    public void Append(ReadOnlySpan<byte> batches, long firstOffset, long nextOffset, long nowMs)
    {
        Invariant.Check(firstOffset >= NextOffset || (IsEmpty && firstOffset >= BaseOffset), $"append at {firstOffset} below segment next offset {NextOffset} in {LogPath}");
        Invariant.Check(nextOffset - BaseOffset <= int.MaxValue, "segment offset range overflow");
        if (IsEmpty)
        {
            RollStartMs = nowMs;
        }
        long position = Size;
        if (PreallocateBytes > 0 && position + batches.Length > AllocatedBytes)
        {
            ZeroFill(position + batches.Length);
        }
        RandomAccess.Write(_file.SafeFileHandle, batches, position);
        var walker = new BatchWalker(batches);
        while (walker.TryNext(out var header, out int at, out _))
        {
            MaxTimestamp = Math.Max(MaxTimestamp, header.MaxTimestamp);
            if (_index.Count == 0 && position + at == 0)
            {
                // Index the first batch so lookups never scan from a stale entry.
                _index.Append(new IndexEntry((int)(header.BaseOffset - BaseOffset), 0, MaxTimestamp));
                _bytesSinceIndexEntry = 0;
            }
            else if (_bytesSinceIndexEntry >= _indexIntervalBytes)
            {
                _index.Append(new IndexEntry((int)(header.BaseOffset - BaseOffset), checked((int)(position + at)), MaxTimestamp));
                _bytesSinceIndexEntry = 0;
            }
            _bytesSinceIndexEntry += header.SizeInBytes;
        }
        Size += batches.Length;
        AllocatedBytes = Math.Max(AllocatedBytes, Size);
        NextOffset = nextOffset;
        _dirty = true;
    }

    /// <summary>
    /// Writes zeros from the data's end up to <paramref name="end"/> (rounded up to a whole chunk). Written blocks,
    /// unlike fallocate's unwritten extents, need no metadata update when data later lands in them. Not fsynced
    /// here: the next flush of the segment makes the new length durable together with the data.
    /// </summary>
    private void ZeroFill(long end)
    {
        long target = (end + PreallocateBytes - 1) / PreallocateBytes * PreallocateBytes;
        long position = Size;
        while (position < target)
        {
            int count = (int)Math.Min(Zeros.Length, target - position);
            RandomAccess.Write(_file.SafeFileHandle, Zeros.AsSpan(0, count), position);
            position += count;
        }
        AllocatedBytes = Math.Max(AllocatedBytes, target);
    }

    /// <summary>Cuts a preallocated zero tail so the file holds exactly its data (on roll and clean close), and fsyncs.</summary>
    public void TrimPreallocation()
    {
        if (AllocatedBytes > Size)
        {
            _file.SetLength(Size);
            AllocatedBytes = Size;
            _file.Flush(flushToDisk: true);
        }
    }

    /// <summary>
    /// Fsyncs the log file (and the index, when <paramref name="includeIndex"/>). Returns true when the log file had
    /// unsynced appends (so an fsync of data happened), which is what the flush-latency metric measures.
    /// </summary>
    public bool Flush(bool includeIndex)
    {
        bool synced = _dirty;
        if (_dirty)
        {
            _file.Flush(flushToDisk: true);
            _dirty = false;
        }
        if (includeIndex)
        {
            _index.Flush();
        }
        return synced;
    }

    /// <summary>Byte position of the first batch whose last offset is at or after <paramref name="offset"/>, or -1 if none.</summary>
    public long FindPosition(long offset, out RecordBatchHeader header)
    {
        header = default;
        if (offset >= NextOffset)
        {
            return -1;
        }
        var floor = _index.Floor((int)Math.Max(0, offset - BaseOffset));
        long position = floor?.Position ?? 0;
        byte[] chunk = ArrayPool<byte>.Shared.Rent(RecordBatch.HeaderSize);
        try
        {
            while (position < Size)
            {
                int read = RandomAccess.Read(_file.SafeFileHandle, chunk.AsSpan(0, RecordBatch.HeaderSize), position);
                if (read < RecordBatch.HeaderSize)
                {
                    throw new LogCorruptionException(LogPath, position, offset, "truncated batch header");
                }
                header = RecordBatchHeader.Read(chunk);
                if (header.BatchLength < RecordBatch.HeaderSize - RecordBatch.LogOverhead || position + header.SizeInBytes > Size)
                {
                    throw new LogCorruptionException(LogPath, position, header.BaseOffset, "bad batch length");
                }
                if (header.LastOffset >= offset)
                {
                    return position;
                }
                position += header.SizeInBytes;
            }
            return -1;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    public int Read(Span<byte> destination, long position) => RandomAccess.Read(_file.SafeFileHandle, destination, position);

    /// <summary>Removes every batch whose last offset is at or after <paramref name="offset"/>; returns the new next offset.</summary>
    public long TruncateTo(long offset)
    {
        long position = FindPosition(offset, out var header);
        if (position < 0)
        {
            return NextOffset;
        }
        _file.SetLength(position);
        Size = position;
        AllocatedBytes = position;
        _index.TruncateToPosition((int)position);
        NextOffset = Math.Max(BaseOffset, header.BaseOffset);
        // Recompute the running max timestamp of what is left from the last index entry on.
        var last = _index.Last;
        MaxTimestamp = last?.MaxTimestamp ?? -1;
        var scan = Scan(last?.Position ?? 0, validate: false, rebuildIndex: false);
        MaxTimestamp = Math.Max(MaxTimestamp, scan.MaxTimestamp);
        _bytesSinceIndexEntry = (int)Math.Min(int.MaxValue, Size - (last?.Position ?? 0));
        _file.Flush(flushToDisk: true);
        _index.Flush();
        return NextOffset;
    }

    /// <summary>The first offset whose batch max timestamp reaches <paramref name="timestamp"/>: (batch header, position) or -1.</summary>
    public long FindTimestamp(long timestamp, out RecordBatchHeader found)
    {
        found = default;
        var start = _index.BeforeTimestamp(timestamp);
        long position = start?.Position ?? 0;
        var chunk = new byte[RecordBatch.HeaderSize];
        while (position < Size)
        {
            if (RandomAccess.Read(_file.SafeFileHandle, chunk, position) < RecordBatch.HeaderSize)
            {
                return -1;
            }
            var header = RecordBatchHeader.Read(chunk);
            if (header.MaxTimestamp >= timestamp)
            {
                found = header;
                return position;
            }
            position += header.SizeInBytes;
        }
        return -1;
    }

    /// <summary>Walks batches from <paramref name="start"/>, optionally validating CRCs and rebuilding the index.</summary>
    internal ScanResult Scan(long start, bool validate, bool rebuildIndex)
    {
        long position = start;
        long nextOffset = BaseOffset;
        long maxTimestamp = -1;
        long bytesSinceIndex = _indexIntervalBytes;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ScanChunkBytes);
        try
        {
            while (position < Size)
            {
                int available = (int)Math.Min(Size - position, RecordBatch.HeaderSize);
                RandomAccess.Read(_file.SafeFileHandle, buffer.AsSpan(0, available), position);
                int declared = RecordBatch.DeclaredSize(buffer.AsSpan(0, available));
                if (available < RecordBatch.HeaderSize || declared < RecordBatch.HeaderSize || position + declared > Size)
                {
                    return new ScanResult(position, nextOffset, maxTimestamp, "truncated or bad batch length");
                }
                if (declared > buffer.Length)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(declared);
                }
                RecordBatchHeader header;
                if (validate)
                {
                    RandomAccess.Read(_file.SafeFileHandle, buffer.AsSpan(0, declared), position);
                    var result = RecordBatch.Validate(buffer.AsSpan(0, declared), out header);
                    if (result != BatchValidation.Ok)
                    {
                        return new ScanResult(position, nextOffset, maxTimestamp, $"batch check failed: {result}");
                    }
                }
                else
                {
                    header = RecordBatchHeader.Read(buffer);
                }
                if (header.BaseOffset < Math.Max(nextOffset, BaseOffset) || header.LastOffset - BaseOffset > int.MaxValue)
                {
                    return new ScanResult(position, nextOffset, maxTimestamp, $"offset {header.BaseOffset} out of order (expected at least {nextOffset})");
                }
                maxTimestamp = Math.Max(maxTimestamp, header.MaxTimestamp);
                if (rebuildIndex && bytesSinceIndex >= _indexIntervalBytes)
                {
                    _index.Append(new IndexEntry((int)(header.BaseOffset - BaseOffset), checked((int)position), maxTimestamp));
                    bytesSinceIndex = 0;
                }
                bytesSinceIndex += declared;
                nextOffset = header.NextOffset;
                position += declared;
            }
            if (rebuildIndex)
            {
                _bytesSinceIndexEntry = (int)Math.Min(int.MaxValue, bytesSinceIndex);
            }
            return new ScanResult(-1, nextOffset, maxTimestamp, "");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose()
    {
        _file.Dispose();
        _index.Dispose();
    }

    /// <summary>Closes and removes both files.</summary>
    public void Delete()
    {
        _file.Dispose();
        _index.Delete();
        File.Delete(LogPath);
    }
}

/// <summary>Where a scan stopped: BadPosition is -1 when every batch was good.</summary>
internal readonly record struct ScanResult(long BadPosition, long NextOffset, long MaxTimestamp, string Reason);
