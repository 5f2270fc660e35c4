using System.Buffers;
using System.Globalization;
using Kraft.Storage.Checkpoints;
using Kraft.Storage.IO;
using Kraft.Storage.Records;

namespace Kraft.Storage.Log;

/// <summary>
/// A partition's (or the Raft metadata's) log: a directory of segments, the last one active.
/// <para>Invariants: segments are contiguous in offset order; LogStartOffset &lt;= LogEndOffset;
/// RecoveryPoint &lt;= LogEndOffset and every batch below RecoveryPoint has been fsynced;
/// the leader-epoch cache never names an offset at or above LogEndOffset.</para>
/// <para>Files: NNNNNNNNNNNNNNNNNNNN.log / .index per segment, recovery-point-checkpoint,
/// log-start-offset-checkpoint, high-watermark-checkpoint, leader-epoch-checkpoint.</para>
/// <para>Thread-safety: every public member takes one lock, so a single writer and many readers may
/// call in from any thread. Reads copy bytes out under the lock.</para>
/// </summary>
public sealed partial class SegmentedLog : IDisposable
{
    private const string RecoveryPointFile = "recovery-point-checkpoint";
    private const string LogStartFile = "log-start-offset-checkpoint";
    private const string HighWatermarkFile = "high-watermark-checkpoint";
    private const string LeaderEpochFile = "leader-epoch-checkpoint";

    private readonly Lock _lock = new();
    private readonly List<LogSegment> _segments = [];
    private readonly CheckpointFile<long> _recoveryPointFile;
    private readonly CheckpointFile<long> _logStartFile;
    private readonly CheckpointFile<long> _highWatermarkFile;
    private readonly TimeProvider _time;
    private long _unflushedMessages;
    private long _firstUnflushedMs = -1;
    private bool _disposed;

    private SegmentedLog(string directory, LogConfig config, TimeProvider time)
    {
        Directory = directory;
        Config = config;
        _time = time;
        _recoveryPointFile = Checkpoint.Offset(Path.Combine(directory, RecoveryPointFile));
        _logStartFile = Checkpoint.Offset(Path.Combine(directory, LogStartFile));
        _highWatermarkFile = Checkpoint.Offset(Path.Combine(directory, HighWatermarkFile));
        EpochCache = new LeaderEpochCache(Checkpoint.LeaderEpochs(Path.Combine(directory, LeaderEpochFile)));
    }

    public string Directory { get; }
    public LogConfig Config { get; }
    public LeaderEpochCache EpochCache { get; }
    public long LogStartOffset { get; private set; }
    public long LogEndOffset => _segments[^1].NextOffset;

    /// <summary>Every batch below this offset is on disk (fsynced).</summary>
    public long RecoveryPoint { get; private set; }

    /// <summary>Bytes removed from the tail by recovery when this log was opened (0 after a clean stop).</summary>
    public long RecoveredTruncatedBytes { get; private set; }

    public int SegmentCount { get { lock (_lock) { return _segments.Count; } } }

    public long SizeInBytes { get { lock (_lock) { return _segments.Sum(s => s.Size); } } }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Opens (or creates) the log in <paramref name="directory"/>, recovering from an unclean stop: segments at or
    /// after the recovery point are scanned and the active segment is cut at the first batch whose length or CRC is
    /// wrong. Damage anywhere else (below the recovery point, or in a segment that later segments follow) is data
    /// that was fsynced, so it is reported with <see cref="LogCorruptionException"/> instead of being cut away.
    /// </summary>
    public static SegmentedLog Open(string directory, LogConfig? config = null, TimeProvider? time = null)
    {
        System.IO.Directory.CreateDirectory(directory);
        var log = new SegmentedLog(directory, config ?? LogConfig.Default, time ?? TimeProvider.System);
        try
        {
            log.Load();
        }
        catch
        {
            log.Dispose();
            throw;
        }
        return log;
    }

    private void Load()
    {
        foreach (var stale in System.IO.Directory.EnumerateFiles(Directory, "*.tmp"))
        {
            File.Delete(stale);
        }
        CompleteInterruptedCleaning(); // log compaction: finish or discard a half-done segment swap (SegmentedLog.Cleaning.cs)
        var bases = new List<long>();
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*.log"))
        {
            string name = Path.GetFileNameWithoutExtension(file);
            if (name.Length != 20 || !long.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out long baseOffset))
            {
                throw new StorageException($"unexpected file {file} in log directory");
            }
            bases.Add(baseOffset);
        }
        foreach (var index in System.IO.Directory.EnumerateFiles(Directory, "*.index"))
        {
            if (!File.Exists(Path.ChangeExtension(index, ".log")))
            {
                File.Delete(index); // an index without its log is left over from a deletion
            }
        }
        bases.Sort();
        long recoveryPoint = Checkpoint.ReadSingle(_recoveryPointFile, 0);
        long logStart = Checkpoint.ReadSingle(_logStartFile, 0);
        long now = NowMs;

        if (bases.Count == 0)
        {
            _segments.Add(ConfigureActive(LogSegment.Create(Directory, logStart, Config.IndexIntervalBytes, now)));
            Durable.FsyncDirectory(Directory);
            LogStartOffset = logStart;
            RecoveryPoint = logStart;
            EpochCache.TruncateFromEnd(logStart);
            return;
        }

        for (int i = 0; i < bases.Count; i++)
        {
            bool isLast = i == bases.Count - 1;
            long nextBase = isLast ? long.MaxValue : bases[i + 1];
            if (nextBase <= recoveryPoint)
            {
                _segments.Add(LogSegment.OpenTrusted(Directory, bases[i], Config.IndexIntervalBytes, now));
                continue;
            }
            var (segment, scan) = LogSegment.OpenForRecovery(Directory, bases[i], Config.IndexIntervalBytes, now, isLast);
            _segments.Add(segment);
            if (scan.BadPosition < 0)
            {
                continue;
            }
            if (!isLast || scan.NextOffset < recoveryPoint)
            {
                throw new LogCorruptionException(segment.LogPath, scan.BadPosition, scan.NextOffset,
                    scan.Reason + (isLast ? " (below the recovery point: this data was fsynced)" : " (later segments follow: not a torn tail)"));
            }
            RecoveredTruncatedBytes = segment.Size - scan.BadPosition;
            segment.CutAt(scan.BadPosition);
        }
        for (int i = 1; i < _segments.Count; i++)
        {
            if (_segments[i - 1].NextOffset > _segments[i].BaseOffset)
            {
                throw new LogCorruptionException(_segments[i - 1].LogPath, _segments[i - 1].Size, _segments[i - 1].NextOffset,
                    $"segment overlaps the next one, which starts at {_segments[i].BaseOffset}");
            }
        }
        LogStartOffset = Math.Max(logStart, _segments[0].BaseOffset);
        if (LogEndOffset < LogStartOffset)
        {
            // Recovery cut unflushed data the log start had already moved past: nothing readable is left.
            TruncateFullyAndStartAtLocked(LogStartOffset);
            return;
        }
        RecoveryPoint = LogEndOffset;
        EpochCache.TruncateFromEnd(LogEndOffset);
        Checkpoint.WriteSingle(_recoveryPointFile, RecoveryPoint);
        ConfigureActive(_segments[^1]);
    }

    /// <summary>Applies the preallocation setting to the segment that now receives appends.</summary>
    private LogSegment ConfigureActive(LogSegment segment)
    {
        segment.PreallocateBytes = Config.Preallocate ? (int)Math.Max(4096, Math.Min(Config.PreallocateChunkBytes, Config.SegmentBytes)) : 0;
        return segment;
    }

    /// <summary>
    /// Appends a leader's batches (a produce request's records): each batch is validated (length, magic, CRC,
    /// record structure, size limit), then given the next offsets and <paramref name="leaderEpoch"/> by rewriting
    /// its header in place. Nothing is written unless every batch is acceptable.
    /// </summary>
    public LogAppendResult AppendAsLeader(Span<byte> records, int leaderEpoch)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            var check = CheckBatches(records, deep: true, out int batchCount, out long recordCount, out long maxTimestamp);
            if (check != AppendError.None)
            {
                return LogAppendResult.Failed(check);
            }
            long first = LogEndOffset;
            long next = first;
            int position = 0;
            while (position < records.Length)
            {
                var header = RecordBatchHeader.Read(records[position..]);
                RecordBatch.Rewrite(records.Slice(position, header.SizeInBytes), next, leaderEpoch);
                next += header.LastOffsetDelta + 1L;
                position += header.SizeInBytes;
            }
            EpochCache.Assign(leaderEpoch, first);
            return Write(records, first, next, batchCount, recordCount, maxTimestamp);
        }
    }

    /// <summary>
    /// Appends batches that already carry their offsets (a follower copying its leader, or the Raft log).
    /// Offsets must start at or after the log end offset and increase. Leader epochs found in the batches
    /// extend the epoch cache.
    /// </summary>
    public LogAppendResult AppendAsFollower(ReadOnlySpan<byte> records)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            var check = CheckBatches(records, deep: false, out int batchCount, out long recordCount, out long maxTimestamp);
            if (check != AppendError.None)
            {
                return LogAppendResult.Failed(check);
            }
            long expected = LogEndOffset;
            long first = -1;
            int position = 0;
            while (position < records.Length)
            {
                var header = RecordBatchHeader.Read(records[position..]);
                if (header.BaseOffset < expected)
                {
                    return LogAppendResult.Failed(AppendError.OffsetsOutOfOrder);
                }
                if (first < 0)
                {
                    first = header.BaseOffset;
                }
                expected = header.NextOffset;
                position += header.SizeInBytes;
            }
            if (first > LogEndOffset)
            {
                // A gap (e.g. after compaction on the leader): start a new segment at the first offset.
                Roll(first);
            }
            position = 0;
            while (position < records.Length)
            {
                var header = RecordBatchHeader.Read(records[position..]);
                if (header.PartitionLeaderEpoch > EpochCache.LatestEpoch)
                {
                    EpochCache.Assign(header.PartitionLeaderEpoch, header.BaseOffset);
                }
                position += header.SizeInBytes;
            }
            return Write(records, first, expected, batchCount, recordCount, maxTimestamp);
        }
    }

    private AppendError CheckBatches(ReadOnlySpan<byte> records, bool deep, out int batchCount, out long recordCount, out long maxTimestamp)
    {
        batchCount = 0;
        recordCount = 0;
        maxTimestamp = -1;
        if (records.IsEmpty)
        {
            return AppendError.InvalidRecord;
        }
        var walker = new BatchWalker(records);
        while (walker.TryNext(out var header, out int at, out var result))
        {
            if (header.SizeInBytes > Config.MaxMessageBytes)
            {
                return AppendError.MessageTooLarge;
            }
            if (deep && RecordBatch.ValidateRecords(records.Slice(at, header.SizeInBytes), header) != BatchValidation.Ok)
            {
                return AppendError.InvalidRecord;
            }
            batchCount++;
            recordCount += header.LastOffsetDelta + 1L;
            maxTimestamp = Math.Max(maxTimestamp, header.MaxTimestamp);
        }
        if (walker.Position != records.Length)
        {
            var result = RecordBatch.Validate(records[walker.Position..], out _);
            return result == BatchValidation.CrcMismatch ? AppendError.CorruptMessage : AppendError.InvalidRecord;
        }
        return AppendError.None;
    }

    private LogAppendResult Write(ReadOnlySpan<byte> records, long first, long next, int batchCount, long recordCount, long maxTimestamp)
    {
        long now = NowMs;
        var active = _segments[^1];
        bool full = !active.IsEmpty && active.Size + records.Length > Config.SegmentBytes;
        bool old = !active.IsEmpty && now - active.RollStartMs >= Config.SegmentMs;
        bool overflow = next - active.BaseOffset > int.MaxValue;
        if (full || old || overflow)
        {
            Roll(first);
        }
        _segments[^1].Append(records, first, next, now);
        _unflushedMessages += recordCount;
        if (_firstUnflushedMs < 0)
        {
            _firstUnflushedMs = now;
        }
        if (Config.FsyncEveryAppend || _unflushedMessages >= Config.FlushIntervalMessages)
        {
            FlushLocked();
        }
        return new LogAppendResult(AppendError.None, first, next - 1, batchCount, recordCount, maxTimestamp);
    }

    /// <summary>Starts a new active segment at <paramref name="baseOffset"/>, after making the old one durable.</summary>
    private void Roll(long baseOffset)
    {
        var active = _segments[^1];
        if (active.IsEmpty && active.BaseOffset == baseOffset)
        {
            return;
        }
        FlushSegment(active, includeIndex: true);
        // Only the active segment may carry a zero-filled tail (recovery relies on it): cut it before a new one starts.
        active.TrimPreallocation();
        if (active.IsEmpty)
        {
            active.Delete();
            _segments.RemoveAt(_segments.Count - 1);
        }
        else
        {
            RecoveryPoint = Math.Max(RecoveryPoint, active.NextOffset);
        }
        _segments.Add(ConfigureActive(LogSegment.Create(Directory, baseOffset, Config.IndexIntervalBytes, NowMs)));
        Durable.FsyncDirectory(Directory);
        Checkpoint.WriteSingle(_recoveryPointFile, RecoveryPoint);
        if (_segments.Count == 1)
        {
            LogStartOffset = baseOffset;
            Checkpoint.WriteSingle(_logStartFile, LogStartOffset);
        }
    }

    /// <summary>Forces the next append into a new segment.</summary>
    public void RollNow()
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            Roll(LogEndOffset);
        }
    }

    /// <summary>Fsyncs everything appended so far; afterwards RecoveryPoint equals LogEndOffset.</summary>
    public void Flush()
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            FlushLocked();
        }
    }

    /// <summary>
    /// Fsyncs one segment and, when it held unsynced appends, records the time taken in
    /// <see cref="StorageMetrics.FlushLatency"/> under this log's <see cref="LogConfig.MetricsLogKind"/>.
    /// The clock here is the process's monotonic one, not <see cref="_time"/>: a latency is a property of the disk.
    /// </summary>
    private void FlushSegment(LogSegment segment, bool includeIndex)
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        if (segment.Flush(includeIndex))
        {
            StorageMetrics.RecordFlush(Config.MetricsLogKind, System.Diagnostics.Stopwatch.GetElapsedTime(started));
        }
    }

    private void FlushLocked()
    {
        FlushSegment(_segments[^1], includeIndex: false);
        RecoveryPoint = LogEndOffset;
        _unflushedMessages = 0;
        _firstUnflushedMs = -1;
    }

    /// <summary>Flushes if the oldest unflushed append is older than log.flush.interval.ms. Called by a scheduler.</summary>
    public bool MaybeFlush()
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            if (_firstUnflushedMs >= 0 && NowMs - _firstUnflushedMs >= Config.FlushIntervalMs)
            {
                FlushLocked();
                return true;
            }
            return false;
        }
    }

    /// <summary>Writes the recovery point durably (after fsyncing indexes it vouches for). Called periodically and on close.</summary>
    public void CheckpointRecoveryPoint()
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            FlushSegment(_segments[^1], includeIndex: true);
            Checkpoint.WriteSingle(_recoveryPointFile, RecoveryPoint);
        }
    }

    /// <summary>
    /// Persists a partition's high watermark (read back with <see cref="ReadHighWatermarkCheckpoint"/>, which clamps it
    /// to the log end). Does not take the log's lock, so appends and reads go on during the file's fsyncs; the caller
    /// must not call it concurrently with itself or with <see cref="Dispose"/>.
    /// </summary>
    public void CheckpointHighWatermark(long highWatermark)
    {
        ThrowIfDisposed();
        Checkpoint.WriteSingle(_highWatermarkFile, highWatermark);
    }

    public long ReadHighWatermarkCheckpoint()
    {
        lock (_lock)
        {
            return Math.Min(Checkpoint.ReadSingle(_highWatermarkFile, LogStartOffset), LogEndOffset);
        }
    }

    /// <summary>
    /// Reads whole batches starting with the one that holds <paramref name="startOffset"/>, up to
    /// <paramref name="maxBytes"/> (at least one batch when <paramref name="minOneBatch"/>, as KIP-74), only batches
    /// that end below <paramref name="maxOffsetExclusive"/> (the high watermark for consumers), from one segment.
    /// Every batch returned has passed its CRC check: damaged data is reported, never served.
    /// </summary>
    public LogReadResult Read(long startOffset, int maxBytes, long maxOffsetExclusive = long.MaxValue, bool minOneBatch = true)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            if (startOffset < LogStartOffset || startOffset > LogEndOffset)
            {
                return LogReadResult.OutOfRange(LogStartOffset, LogEndOffset);
            }
            if (startOffset >= maxOffsetExclusive || startOffset == LogEndOffset)
            {
                return LogReadResult.Empty(LogStartOffset, LogEndOffset);
            }
            int index = FindSegmentIndex(startOffset);
            LogSegment? segment = null;
            long position = -1;
            RecordBatchHeader first = default;
            for (; index < _segments.Count; index++)
            {
                segment = _segments[index];
                position = segment.FindPosition(startOffset, out first);
                if (position >= 0)
                {
                    break;
                }
            }
            if (segment is null || position < 0 || first.LastOffset >= maxOffsetExclusive)
            {
                return LogReadResult.Empty(LogStartOffset, LogEndOffset);
            }

            // Decide the byte range: whole batches, within maxBytes, ending below maxOffsetExclusive.
            long end = position;
            long cursor = position;
            var header = first;
            Span<byte> headerBytes = stackalloc byte[RecordBatch.HeaderSize];
            while (true)
            {
                if (header.LastOffset >= maxOffsetExclusive)
                {
                    break;
                }
                long batchEnd = cursor + header.SizeInBytes;
                if (batchEnd - position > maxBytes && !(minOneBatch && end == position))
                {
                    break;
                }
                end = batchEnd;
                cursor = batchEnd;
                if (cursor >= segment.Size)
                {
                    break;
                }
                segment.Read(headerBytes, cursor);
                header = RecordBatchHeader.Read(headerBytes);
                if (header.BatchLength < RecordBatch.HeaderSize - RecordBatch.LogOverhead || cursor + header.SizeInBytes > segment.Size)
                {
                    throw new LogCorruptionException(segment.LogPath, cursor, header.BaseOffset, "bad batch length");
                }
            }
            if (end == position)
            {
                return LogReadResult.Empty(LogStartOffset, LogEndOffset);
            }
            var bytes = new byte[end - position];
            int read = segment.Read(bytes, position);
            if (read != bytes.Length)
            {
                throw new LogCorruptionException(segment.LogPath, position + read, first.BaseOffset, "short read");
            }
            int at = 0;
            while (at < bytes.Length)
            {
                var result = RecordBatch.Validate(bytes.AsSpan(at), out var h);
                if (result != BatchValidation.Ok)
                {
                    throw new LogCorruptionException(segment.LogPath, position + at, RecordBatchFields.BaseOffset(bytes.AsSpan(at)), $"batch check failed on read: {result}");
                }
                at += h.SizeInBytes;
            }
            return new LogReadResult(LogReadError.None, bytes, first.BaseOffset, LogStartOffset, LogEndOffset);
        }
    }

    /// <summary>The offset of the first batch whose max timestamp is at or after <paramref name="timestamp"/> (ListOffsets by time), or -1.</summary>
    public long OffsetForTimestamp(long timestamp)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            foreach (var segment in _segments)
            {
                if (segment.MaxTimestamp < timestamp)
                {
                    continue;
                }
                if (segment.FindTimestamp(timestamp, out var header) >= 0)
                {
                    return Math.Max(header.BaseOffset, LogStartOffset);
                }
            }
            return -1;
        }
    }

    /// <summary>
    /// Removes every batch whose last offset is at or after <paramref name="offset"/> (a follower whose log diverges
    /// from its new leader). Truncation happens at batch boundaries, so the new log end offset may be below
    /// <paramref name="offset"/> when a batch straddles it. Returns the new log end offset.
    /// </summary>
    public long TruncateTo(long offset)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            if (offset >= LogEndOffset)
            {
                return LogEndOffset;
            }
            if (offset <= LogStartOffset)
            {
                TruncateFullyAndStartAtLocked(offset < LogStartOffset ? offset : LogStartOffset);
                return LogEndOffset;
            }
            while (_segments.Count > 1 && _segments[^1].BaseOffset >= offset)
            {
                _segments[^1].Delete();
                _segments.RemoveAt(_segments.Count - 1);
            }
            ConfigureActive(_segments[^1]).TruncateTo(offset);
            Durable.FsyncDirectory(Directory);
            RecoveryPoint = Math.Min(RecoveryPoint, LogEndOffset);
            Checkpoint.WriteSingle(_recoveryPointFile, RecoveryPoint);
            EpochCache.TruncateFromEnd(LogEndOffset);
            return LogEndOffset;
        }
    }

    /// <summary>Deletes all data and restarts the log empty at <paramref name="offset"/> (a replica too far behind, a Raft snapshot install).</summary>
    public void TruncateFullyAndStartAt(long offset)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            TruncateFullyAndStartAtLocked(offset);
        }
    }

    private void TruncateFullyAndStartAtLocked(long offset)
    {
        foreach (var segment in _segments)
        {
            segment.Delete();
        }
        _segments.Clear();
        _segments.Add(ConfigureActive(LogSegment.Create(Directory, offset, Config.IndexIntervalBytes, NowMs)));
        Durable.FsyncDirectory(Directory);
        LogStartOffset = offset;
        RecoveryPoint = offset;
        Checkpoint.WriteSingle(_logStartFile, offset);
        Checkpoint.WriteSingle(_recoveryPointFile, offset);
        EpochCache.Clear();
        _unflushedMessages = 0;
        _firstUnflushedMs = -1;
    }

    /// <summary>True when <see cref="AdvanceLogStartOffset"/>(<paramref name="offset"/>) would delete at least one
    /// whole segment (only whole segments are ever deleted).</summary>
    public bool HasWholeSegmentBelow(long offset)
    {
        lock (_lock)
        {
            return _segments.Count > 1 && _segments[1].BaseOffset <= offset;
        }
    }

    /// <summary>
    /// Moves the log start offset forward (DeleteRecords, a Raft snapshot that covers the prefix) and deletes
    /// segments that lie wholly below it. Offsets below the log start are then out of range.
    /// </summary>
    public void AdvanceLogStartOffset(long offset)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            Invariant.Check(offset <= LogEndOffset, $"log start offset {offset} above log end offset {LogEndOffset}");
            if (offset <= LogStartOffset)
            {
                return;
            }
            if (offset > RecoveryPoint)
            {
                // The new start must not outlive the data below it: after a crash the log would start past its end.
                FlushLocked();
            }
            LogStartOffset = offset;
            while (_segments.Count > 1 && _segments[1].BaseOffset <= offset)
            {
                _segments[0].Delete();
                _segments.RemoveAt(0);
            }
            Checkpoint.WriteSingle(_logStartFile, LogStartOffset);
            Durable.FsyncDirectory(Directory);
            EpochCache.TruncateFromStart(LogStartOffset);
        }
    }

    /// <summary>
    /// Deletes whole segments from the front by retention.ms and retention.bytes. Only segments that end at or below
    /// <paramref name="upperBoundOffset"/> (the high watermark) and are not the active one may go. Returns how many.
    /// </summary>
    public int EnforceRetention(long upperBoundOffset = long.MaxValue)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            if (!Config.DeleteByRetention)
            {
                return 0; // cleanup.policy=compact without delete: only the log cleaner removes data
            }
            long now = NowMs;
            long total = _segments.Sum(s => s.Size);
            int deleted = 0;
            while (_segments.Count > 1)
            {
                var oldest = _segments[0];
                if (oldest.NextOffset > upperBoundOffset)
                {
                    break;
                }
                bool expired = Config.RetentionMs >= 0 && oldest.MaxTimestamp >= 0 && now - oldest.MaxTimestamp > Config.RetentionMs;
                bool oversized = Config.RetentionBytes >= 0 && total - oldest.Size >= Config.RetentionBytes;
                if (!expired && !oversized)
                {
                    break;
                }
                total -= oldest.Size;
                oldest.Delete();
                _segments.RemoveAt(0);
                deleted++;
            }
            if (deleted > 0)
            {
                LogStartOffset = Math.Max(LogStartOffset, _segments[0].BaseOffset);
                Checkpoint.WriteSingle(_logStartFile, LogStartOffset);
                Durable.FsyncDirectory(Directory);
                EpochCache.TruncateFromStart(LogStartOffset);
            }
            return deleted;
        }
    }

    private int FindSegmentIndex(long offset)
    {
        int lo = 0, hi = _segments.Count - 1, found = 0;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_segments[mid].BaseOffset <= offset) { found = mid; lo = mid + 1; }
            else { hi = mid - 1; }
        }
        return found;
    }

    /// <summary>
    /// Test hook: closes every file as a SIGKILL would leave them, without flushing or checkpointing.
    /// (The OS keeps what was written; tests then damage the files to model lost or torn writes.)
    /// </summary>
    internal void SimulateCrash()
    {
        lock (_lock)
        {
            _disposed = true;
            foreach (var segment in _segments)
            {
                segment.Dispose();
            }
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Clean close: flushes, checkpoints the recovery point at the log end, closes files.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            try
            {
                if (_segments.Count > 0)
                {
                    FlushSegment(_segments[^1], includeIndex: true);
                    _segments[^1].TrimPreallocation();
                    RecoveryPoint = LogEndOffset;
                    Checkpoint.WriteSingle(_recoveryPointFile, RecoveryPoint);
                }
            }
            finally
            {
                foreach (var segment in _segments)
                {
                    segment.Dispose();
                }
            }
        }
    }
}

/// <summary>Why an append was refused. Maps to Kafka error codes at the broker.</summary>
public enum AppendError
{
    None = 0,
    /// <summary>CORRUPT_MESSAGE (2): a batch's CRC does not match.</summary>
    CorruptMessage = 1,
    /// <summary>INVALID_RECORD (87) / CORRUPT_MESSAGE: bad lengths, magic or record structure.</summary>
    InvalidRecord = 2,
    /// <summary>MESSAGE_TOO_LARGE (10): a batch exceeds max.message.bytes.</summary>
    MessageTooLarge = 3,
    /// <summary>A follower batch below the log end offset or out of order.</summary>
    OffsetsOutOfOrder = 4,
}

/// <summary>The outcome of an append: the offsets assigned, or why nothing was written.</summary>
public readonly record struct LogAppendResult(AppendError Error, long FirstOffset, long LastOffset, int BatchCount, long RecordCount, long MaxTimestamp)
{
    public static LogAppendResult Failed(AppendError error) => new(error, -1, -1, 0, 0, -1);
}

public enum LogReadError
{
    None = 0,
    /// <summary>OFFSET_OUT_OF_RANGE (1).</summary>
    OffsetOutOfRange = 1,
}

/// <summary>Whole batches read from a log, as stored (ready to go on the wire), with the log's bounds at read time.</summary>
public sealed record LogReadResult(LogReadError Error, byte[] Records, long FirstOffset, long LogStartOffset, long LogEndOffset)
{
    public static LogReadResult OutOfRange(long start, long end) => new(LogReadError.OffsetOutOfRange, [], -1, start, end);

    public static LogReadResult Empty(long start, long end) => new(LogReadError.None, [], -1, start, end);
}
