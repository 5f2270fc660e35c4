using System.Globalization;
using Kraft.Storage.Checkpoints;
using Kraft.Storage.IO;
using Kraft.Storage.Records;

namespace Kraft.Storage.Log;

/// <summary>
/// Log compaction of one log (Kafka's Cleaner.doClean), the I/O half; the decisions are in <see cref="LogCleanerCore"/>.
/// <para>A pass: (1) under the lock, take the cleanable segments: not the active one, wholly below the safe point
/// min(high watermark given by the caller, recovery point, active segment base). The dirty section starts at the
/// cleaner checkpoint (file cleaner-offset-checkpoint, "first dirty offset"). (2) Without the lock, build the key ->
/// latest offset map over the dirty segments, stopping at a segment boundary when the map is full (this bounds the
/// work of a pass). (3) Rewrite every cleanable segment from the log start to the end of that chunk, in groups of
/// consecutive segments whose total size fits segment.bytes (so small cleaned segments merge), each group into one
/// new segment named by its first base offset. (4) Advance the checkpoint to the chunk end.</para>
/// <para>Crash safety of a group's swap: the group is written to BASE.log.cleaned and fsynced; renamed to
/// BASE-END.swap (END = the base offset of the segment after the group) and the directory fsynced — from here the
/// swap is decided; under the lock the old segments of [BASE, END) are deleted and the .swap renamed over BASE.log.
/// On open, *.cleaned files are discarded (the swap was not decided) and every *.swap is completed: old segments
/// in its range are deleted and it becomes BASE.log with a rebuilt index.</para>
/// <para>Tombstones are dropped only when every segment before them is rewritten in the same pass (always the
/// case: a pass rewrites from the log start), so an older value of the key cannot outlive its tombstone.</para>
/// <para>Thread: <see cref="Clean"/> runs on the log cleaner's thread; appends and reads continue meanwhile and
/// only the swap takes the log's lock. If segments change underneath (truncation, deletion) the pass is abandoned.</para>
/// </summary>
public sealed partial class SegmentedLog
{
    private const string CleanerCheckpointFile = "cleaner-offset-checkpoint";
    private const string CleanedExtension = ".cleaned";
    private const string SwapExtension = ".swap";

    /// <summary>Test hook: called at each step of a swap; a test throws from it to model a crash at that step.</summary>
    internal Action<CleanerStep>? CleanerStepHook { get; set; }

    private CheckpointFile<long> CleanerCheckpoint => Checkpoint.Offset(Path.Combine(Directory, CleanerCheckpointFile));

    /// <summary>The first offset not yet cleaned (the start of the dirty section), from the cleaner checkpoint.</summary>
    public long FirstDirtyOffset
    {
        get
        {
            lock (_lock)
            {
                return Math.Max(LogStartOffset, Checkpoint.ReadSingle(CleanerCheckpoint, LogStartOffset));
            }
        }
    }

    /// <summary>
    /// What a pass would see now: cleanable bytes below the safe point and how many of them are dirty. The cleaner
    /// driver uses it to pick the dirtiest log (Kafka's min.cleanable.dirty.ratio test).
    /// </summary>
    public CleanableStats CleanableStats(long upperBoundOffset)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            long firstDirty = Math.Max(LogStartOffset, Checkpoint.ReadSingle(CleanerCheckpoint, LogStartOffset));
            int count = CleanableCountLocked(upperBoundOffset);
            long clean = 0, dirty = 0;
            for (int i = 0; i < count; i++)
            {
                if (_segments[i].BaseOffset >= firstDirty || (i + 1 < _segments.Count && _segments[i + 1].BaseOffset > firstDirty))
                {
                    dirty += _segments[i].Size;
                }
                else
                {
                    clean += _segments[i].Size;
                }
            }
            return new CleanableStats(clean, dirty, firstDirty);
        }
    }

    /// <summary>How many leading segments a pass may touch: closed, wholly below the safe point.</summary>
    private int CleanableCountLocked(long upperBoundOffset)
    {
        long safePoint = Math.Min(Math.Min(upperBoundOffset, RecoveryPoint), _segments[^1].BaseOffset);
        int count = 0;
        while (count < _segments.Count - 1 && _segments[count + 1].BaseOffset <= safePoint && _segments[count].NextOffset <= safePoint)
        {
            count++;
        }
        return count;
    }

    /// <summary>
    /// Runs one cleaning pass if the dirty ratio reaches min.cleanable.dirty.ratio (or <paramref name="force"/>).
    /// <paramref name="upperBoundOffset"/> is the partition's high watermark; <paramref name="mapCapacity"/> bounds
    /// the number of distinct keys (and so the dirty section) one pass handles.
    /// </summary>
    public CleanResult Clean(long upperBoundOffset, int mapCapacity, bool force = false)
    {
        List<LogSegment> cleanable;
        long firstDirty;
        lock (_lock)
        {
            ThrowIfDisposed();
            var stats = CleanableStats(upperBoundOffset);
            if (stats.DirtyBytes == 0 && !force || stats.CleanableBytes == 0 || (!force && stats.DirtyRatio < Config.MinCleanableDirtyRatio))
            {
                return CleanResult.Nothing;
            }
            firstDirty = stats.FirstDirtyOffset;
            cleanable = _segments.Take(CleanableCountLocked(upperBoundOffset)).ToList();
        }
        long deleteHorizonMs = NowMs - Config.DeleteRetentionMs;
        try
        {
            // (2) The map over the dirty section, ending at a segment boundary.
            var map = new OffsetMap(mapCapacity);
            int end = 0; // segments [0, end) are rewritten
            for (int i = 0; i < cleanable.Count; i++)
            {
                var segment = cleanable[i];
                bool dirty = segment.BaseOffset >= firstDirty || (i + 1 < cleanable.Count ? cleanable[i + 1].BaseOffset > firstDirty : segment.NextOffset > firstDirty);
                if (dirty)
                {
                    if (map.IsFull)
                    {
                        break;
                    }
                    foreach (var batch in ReadBatches(segment))
                    {
                        LogCleanerCore.AddToMap(batch, map);
                    }
                }
                end = i + 1;
            }
            if (end == 0)
            {
                return CleanResult.Nothing;
            }
            long chunkEnd = end < cleanable.Count ? cleanable[end].BaseOffset : NextBaseAfter(cleanable[end - 1]);

            // (3) Rewrite [0, end) in groups.
            var result = new CleanResult(true, 0, 0, 0, 0, 0);
            int start = 0;
            while (start < end)
            {
                int stop = start + 1;
                long size = cleanable[start].Size;
                while (stop < end && size + cleanable[stop].Size <= Config.SegmentBytes && cleanable[stop].NextOffset - cleanable[start].BaseOffset <= int.MaxValue)
                {
                    size += cleanable[stop].Size;
                    stop++;
                }
                var group = cleanable.GetRange(start, stop - start);
                long groupEnd = stop < cleanable.Count ? cleanable[stop].BaseOffset : NextBaseAfter(cleanable[stop - 1]);
                var written = CleanGroup(group, groupEnd, map, deleteHorizonMs);
                if (written is null)
                {
                    return result with { Abandoned = true };
                }
                result = result with
                {
                    SegmentsRewritten = result.SegmentsRewritten + group.Count,
                    BytesBefore = result.BytesBefore + size,
                    BytesAfter = result.BytesAfter + written.Value.Bytes,
                    RecordsRemoved = result.RecordsRemoved + written.Value.Removed,
                    RecordsKept = result.RecordsKept + written.Value.Kept,
                };
                start = stop;
            }

            // (4) Everything below chunkEnd is clean now.
            lock (_lock)
            {
                ThrowIfDisposed();
                Checkpoint.WriteSingle(CleanerCheckpoint, chunkEnd);
            }
            return result;
        }
        catch (ObjectDisposedException)
        {
            // A segment was deleted or the log closed while we read it: give up this pass; leftovers are removed on open.
            return CleanResult.Nothing with { Abandoned = true };
        }
    }

    /// <summary>The base offset of the segment following <paramref name="segment"/> (under the lock).</summary>
    private long NextBaseAfter(LogSegment segment)
    {
        lock (_lock)
        {
            int index = _segments.IndexOf(segment);
            return index >= 0 && index + 1 < _segments.Count ? _segments[index + 1].BaseOffset : segment.NextOffset;
        }
    }

    /// <summary>Writes one group's cleaned segment and swaps it in; null when the log changed underneath.</summary>
    private (long Bytes, long Kept, long Removed)? CleanGroup(List<LogSegment> group, long groupEnd, OffsetMap map, long deleteHorizonMs)
    {
        long baseOffset = group[0].BaseOffset;
        string cleanedPath = Path.Combine(Directory, LogSegment.FileName(baseOffset, ".log" + CleanedExtension));
        string swapPath = Path.Combine(Directory, SwapFileName(baseOffset, groupEnd));
        long bytes = 0, kept = 0, removed = 0;
        using (var output = new FileStream(cleanedPath, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 64 * 1024))
        {
            foreach (var segment in group)
            {
                foreach (var batch in ReadBatches(segment))
                {
                    var filtered = LogCleanerCore.FilterBatch(batch, map, deleteHorizonMs);
                    kept += filtered.RecordsKept;
                    removed += filtered.RecordsRemoved;
                    switch (filtered.Outcome)
                    {
                        case FilterOutcome.Unchanged:
                            output.Write(batch);
                            bytes += batch.Length;
                            break;
                        case FilterOutcome.Rebuilt:
                            output.Write(filtered.Rebuilt);
                            bytes += filtered.Rebuilt!.Length;
                            break;
                    }
                }
            }
            output.Flush(flushToDisk: true);
        }
        CleanerStepHook?.Invoke(CleanerStep.CleanedWritten);
        File.Move(cleanedPath, swapPath);
        Durable.FsyncDirectory(Directory);
        CleanerStepHook?.Invoke(CleanerStep.SwapRenamed);

        lock (_lock)
        {
            int at = _disposed ? -1 : _segments.IndexOf(group[0]);
            bool unchanged = at >= 0 && at + group.Count < _segments.Count
                && group.Select((s, i) => ReferenceEquals(_segments[at + i], s)).All(x => x);
            if (!unchanged)
            {
                File.Delete(swapPath);
                return null;
            }
            for (int i = group.Count - 1; i >= 1; i--)
            {
                group[i].Delete();
                CleanerStepHook?.Invoke(CleanerStep.OldSegmentDeleted);
            }
            group[0].Dispose();
            File.Move(swapPath, group[0].LogPath, overwrite: true);
            CleanerStepHook?.Invoke(CleanerStep.SwapMovedIn);
            var replacement = OpenSwappedIn(baseOffset);
            _segments.RemoveRange(at, group.Count);
            _segments.Insert(at, replacement);
            Durable.FsyncDirectory(Directory);
        }
        return (bytes, kept, removed);
    }

    /// <summary>Opens a freshly swapped-in segment, rebuilding its offset/time index from the new file.</summary>
    private LogSegment OpenSwappedIn(long baseOffset)
    {
        string index = Path.Combine(Directory, LogSegment.FileName(baseOffset, ".index"));
        File.Delete(index);
        var (segment, scan) = LogSegment.OpenForRecovery(Directory, baseOffset, Config.IndexIntervalBytes, NowMs);
        if (scan.BadPosition >= 0)
        {
            segment.Dispose();
            throw new LogCorruptionException(segment.LogPath, scan.BadPosition, scan.NextOffset, "cleaned segment fails its check: " + scan.Reason);
        }
        segment.Flush(includeIndex: true);
        return segment;
    }

    private static string SwapFileName(long baseOffset, long endOffset) =>
        baseOffset.ToString("D20", CultureInfo.InvariantCulture) + "-" + endOffset.ToString("D20", CultureInfo.InvariantCulture) + SwapExtension;

    /// <summary>
    /// Called first when the log opens: discards unfinished cleaned files and completes decided swaps (see the
    /// type's summary). Leaves BASE.log with a rebuilt index in place of the segments the swap replaces.
    /// </summary>
    private void CompleteInterruptedCleaning()
    {
        bool changed = false;
        foreach (var cleaned in System.IO.Directory.EnumerateFiles(Directory, "*" + CleanedExtension).ToList())
        {
            File.Delete(cleaned);
            changed = true;
        }
        foreach (var swap in System.IO.Directory.EnumerateFiles(Directory, "*" + SwapExtension).Order(StringComparer.Ordinal).ToList())
        {
            string name = Path.GetFileNameWithoutExtension(swap);
            var parts = name.Split('-');
            if (parts.Length != 2
                || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long baseOffset)
                || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long endOffset))
            {
                throw new StorageException($"unexpected file {swap} in log directory");
            }
            foreach (var log in System.IO.Directory.EnumerateFiles(Directory, "*.log").ToList())
            {
                if (long.TryParse(Path.GetFileNameWithoutExtension(log), NumberStyles.None, CultureInfo.InvariantCulture, out long b)
                    && b > baseOffset && b < endOffset)
                {
                    File.Delete(Path.ChangeExtension(log, ".index"));
                    File.Delete(log);
                }
            }
            File.Move(swap, Path.Combine(Directory, LogSegment.FileName(baseOffset, ".log")), overwrite: true);
            OpenSwappedIn(baseOffset).Dispose();
            changed = true;
        }
        if (changed)
        {
            Durable.FsyncDirectory(Directory);
        }
    }

    /// <summary>Reads a closed segment batch by batch (each validated; damage stops the pass with an exception).</summary>
    private static IEnumerable<byte[]> ReadBatches(LogSegment segment)
    {
        long position = 0;
        long size = segment.Size;
        var header = new byte[RecordBatch.HeaderSize];
        while (position < size)
        {
            if (segment.Read(header, position) < RecordBatch.HeaderSize)
            {
                throw new LogCorruptionException(segment.LogPath, position, -1, "short batch header during cleaning");
            }
            int declared = RecordBatch.DeclaredSize(header);
            if (declared < RecordBatch.HeaderSize || position + declared > size)
            {
                throw new LogCorruptionException(segment.LogPath, position, -1, "bad batch length during cleaning");
            }
            var batch = new byte[declared];
            if (segment.Read(batch, position) != declared || RecordBatch.Validate(batch, out _) != BatchValidation.Ok)
            {
                throw new LogCorruptionException(segment.LogPath, position, RecordBatchFields.BaseOffset(batch), "batch check failed during cleaning");
            }
            yield return batch;
            position += declared;
        }
    }
}

/// <summary>The steps of a segment swap, for crash tests.</summary>
public enum CleanerStep
{
    CleanedWritten,
    SwapRenamed,
    OldSegmentDeleted,
    SwapMovedIn,
}

/// <summary>Cleanable bytes below the safe point, split at the first dirty offset.</summary>
public readonly record struct CleanableStats(long CleanBytes, long DirtyBytes, long FirstDirtyOffset)
{
    public long CleanableBytes => CleanBytes + DirtyBytes;

    public double DirtyRatio => CleanableBytes == 0 ? 0 : (double)DirtyBytes / CleanableBytes;
}

/// <summary>The outcome of one <see cref="SegmentedLog.Clean"/> pass.</summary>
public readonly record struct CleanResult(bool Ran, int SegmentsRewritten, long BytesBefore, long BytesAfter, long RecordsKept, long RecordsRemoved)
{
    public static CleanResult Nothing => new(false, 0, 0, 0, 0, 0);

    /// <summary>The log changed underneath (truncated, closed): the pass stopped early and will be redone.</summary>
    public bool Abandoned { get; init; }
}
