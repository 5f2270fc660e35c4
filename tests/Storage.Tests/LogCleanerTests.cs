using System.Buffers.Binary;
using System.Text;
using Kraft.Storage.Log;
using Kraft.Storage.Records;

namespace Kraft.Storage.Tests;

/// <summary>Log compaction: the pure filter (LogCleanerCore) and the segment swap with crashes at each step.</summary>
public class LogCleanerTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static byte[] Keyed(long baseOffset, long timestampMs, params (string Key, string? Value)[] records)
    {
        var builder = new RecordBatchBuilder { BaseOffset = baseOffset, PartitionLeaderEpoch = 7 };
        foreach (var (key, value) in records)
        {
            builder.Add(B(key), value is null ? null : B(value), timestampMs);
        }
        return builder.Build(timestampMs);
    }

    /// <summary>(offset, key, value) of every record in a buffer of batches; every batch must validate.</summary>
    internal static List<(long Offset, string? Key, string? Value)> Records(byte[] buffer)
    {
        var result = new List<(long, string?, string?)>();
        var walker = new BatchWalker(buffer);
        while (walker.TryNext(out var header, out int at, out _))
        {
            var reader = new RecordReader(buffer.AsSpan(at + RecordBatch.HeaderSize, header.SizeInBytes - RecordBatch.HeaderSize));
            while (reader.TryReadNext(out var record, out _))
            {
                result.Add((header.BaseOffset + record.OffsetDelta,
                    record.KeyIsNull ? null : Encoding.UTF8.GetString(record.Key),
                    record.ValueIsNull ? null : Encoding.UTF8.GetString(record.Value)));
            }
            Assert.False(reader.Malformed);
        }
        Assert.Equal(buffer.Length, walker.Position);
        return result;
    }

    [Theory]
    [InlineData(false, 5, 9, false, 0, 0, true)]    // no key: always kept
    [InlineData(true, 5, 9, false, 0, 0, false)]    // superseded by a later offset
    [InlineData(true, 9, 9, false, 0, 0, true)]     // the latest value
    [InlineData(true, 9, -1, false, 0, 0, true)]    // key not in the map (cleaned earlier)
    [InlineData(true, 9, 9, true, 100, 50, true)]   // latest tombstone, still inside delete.retention.ms
    [InlineData(true, 9, 9, true, 40, 50, false)]   // latest tombstone past the delete horizon
    [InlineData(true, 5, 9, true, 100, 50, false)]  // superseded tombstone
    public void Retention_decision_follows_kafkas_rules(bool hasKey, long offset, long latest, bool tombstone, long ts, long horizon, bool expected) =>
        Assert.Equal(expected, LogCleanerCore.ShouldRetain(hasKey, offset, latest, tombstone, ts, horizon));

    [Fact]
    public void A_filtered_batch_keeps_its_offsets_epoch_and_a_valid_crc()
    {
        var batch = Keyed(100, 1000, ("a", "1"), ("b", "1"), ("a", "2"), ("c", "1"));
        var map = new OffsetMap(16);
        map.Put(B("a"), 102);
        map.Put(B("b"), 150); // b is superseded in a later batch
        map.Put(B("c"), 103);

        var result = LogCleanerCore.FilterBatch(batch, map, deleteHorizonMs: 0);

        Assert.Equal(FilterOutcome.Rebuilt, result.Outcome);
        Assert.Equal(2, result.RecordsKept);
        Assert.Equal(2, result.RecordsRemoved);
        var rebuilt = result.Rebuilt!;
        Assert.Equal(BatchValidation.Ok, RecordBatch.Validate(rebuilt, out var header));
        Assert.Equal(100, header.BaseOffset);
        Assert.Equal(3, header.LastOffsetDelta); // the batch still ends at 103
        Assert.Equal(7, header.PartitionLeaderEpoch);
        Assert.Equal(2, header.RecordsCount);
        Assert.Equal([(102L, "a", "2"), (103L, "c", "1")], Records(rebuilt).Select(r => (r.Offset, r.Key, r.Value)));
    }

    [Fact]
    public void A_batch_whose_records_are_all_superseded_is_dropped_and_an_untouched_one_is_unchanged()
    {
        var batch = Keyed(0, 1000, ("a", "1"), ("b", "1"));
        var map = new OffsetMap(16);
        map.Put(B("a"), 5);
        map.Put(B("b"), 6);
        Assert.Equal(FilterOutcome.Dropped, LogCleanerCore.FilterBatch(batch, map, 0).Outcome);

        var latest = Keyed(5, 1000, ("a", "2"), ("b", "2"));
        Assert.Equal(FilterOutcome.Unchanged, LogCleanerCore.FilterBatch(latest, map, 0).Outcome);
    }

    [Fact]
    public void Tombstones_stay_until_the_delete_horizon_passes()
    {
        var batch = Keyed(10, 1000, ("a", null));
        var map = new OffsetMap(4);
        map.Put(B("a"), 10);
        Assert.Equal(FilterOutcome.Unchanged, LogCleanerCore.FilterBatch(batch, map, deleteHorizonMs: 1000).Outcome);
        Assert.Equal(FilterOutcome.Dropped, LogCleanerCore.FilterBatch(batch, map, deleteHorizonMs: 1001).Outcome);
    }

    [Fact]
    public void Control_and_compressed_batches_are_never_touched()
    {
        var map = new OffsetMap(4);
        map.Put(B("a"), 99);
        var control = new RecordBatchBuilder { IsControl = true }.Add(B("a"), B("x")).Build(1000);
        Assert.Equal(FilterOutcome.Unchanged, LogCleanerCore.FilterBatch(control, map, 0).Outcome);

        var compressed = Keyed(0, 1000, ("a", "1"));
        short attributes = BinaryPrimitives.ReadInt16BigEndian(compressed.AsSpan(RecordBatch.AttributesOffset));
        BinaryPrimitives.WriteInt16BigEndian(compressed.AsSpan(RecordBatch.AttributesOffset), (short)(attributes | (short)CompressionType.Gzip));
        RecordBatch.UpdateCrc(compressed);
        Assert.Equal(FilterOutcome.Unchanged, LogCleanerCore.FilterBatch(compressed, map, 0).Outcome);
    }

    [Fact]
    public void The_offset_map_keeps_the_latest_offset_per_key_by_content()
    {
        var map = new OffsetMap(2);
        map.Put(B("k"), 5);
        map.Put(B("k"), 3);
        map.Put(new byte[] { (byte)'k' }, 7);
        Assert.Equal(7, map.Get(B("k")));
        Assert.Equal(-1, map.Get(B("other")));
        Assert.False(map.IsFull);
        map.Put(B("j"), 1);
        Assert.True(map.IsFull);
    }

    private static readonly LogConfig CompactConfig = new()
    {
        SegmentBytes = 700, // Fill rolls by hand after four 76-byte batches, so two segments fit one cleaned group
        IndexIntervalBytes = 64,
        Compact = true,
        DeleteByRetention = false,
        DeleteRetentionMs = 1000,
        MinCleanableDirtyRatio = 0.5,
    };

    /// <summary>Three closed segments with two values for each of four keys, then an active segment.</summary>
    private static void Fill(SegmentedLog log, ManualTime time)
    {
        for (int round = 0; round < 2; round++)
        {
            for (int k = 0; k < 4; k++)
            {
                Assert.Equal(AppendError.None, log.AppendAsLeader(Keyed(0, time.NowMs, ($"key{k}", $"r{round}")), 1).Error);
            }
            log.RollNow();
        }
        log.AppendAsLeader(Keyed(0, time.NowMs, ("key0", "active")), 1);
        log.Flush();
    }

    private static List<(long Offset, string? Key, string? Value)> ReadAll(SegmentedLog log)
    {
        var all = new List<(long, string?, string?)>();
        long offset = log.LogStartOffset;
        while (offset < log.LogEndOffset)
        {
            var read = log.Read(offset, 1 << 20);
            Assert.Equal(LogReadError.None, read.Error);
            if (read.Records.Length == 0) break;
            var records = Records(read.Records);
            all.AddRange(records);
            var walker = new BatchWalker(read.Records);
            long next = offset;
            while (walker.TryNext(out var h, out _, out _)) next = h.NextOffset;
            offset = next;
        }
        return all;
    }

    [Fact]
    public void Cleaning_keeps_the_latest_record_per_key_and_never_touches_the_active_segment()
    {
        using var dir = new TempDir();
        var time = new ManualTime();
        using var log = SegmentedLog.Open(dir.Path, CompactConfig, time);
        Fill(log, time);
        int segmentsBefore = log.SegmentCount;

        var result = log.Clean(log.LogEndOffset, mapCapacity: 1000);

        Assert.True(result.Ran);
        Assert.Equal(4, result.RecordsRemoved);
        Assert.True(log.SegmentCount < segmentsBefore, "small cleaned segments are merged");
        var records = ReadAll(log);
        Assert.Equal([4L, 5, 6, 7, 8], records.Select(r => r.Offset));
        Assert.Equal("active", records[^1].Value);
        Assert.Equal(8, log.FirstDirtyOffset);
        Assert.False(log.Clean(log.LogEndOffset, 1000).Ran); // nothing dirty left
    }

    [Fact]
    public void Cleaning_stops_at_the_high_watermark()
    {
        using var dir = new TempDir();
        var time = new ManualTime();
        using var log = SegmentedLog.Open(dir.Path, CompactConfig, time);
        Fill(log, time);

        var result = log.Clean(upperBoundOffset: 4, mapCapacity: 1000, force: true);

        // Only the first segment (offsets 0-3) is below the bound, and nothing in it is superseded within it.
        Assert.Equal(0, result.RecordsRemoved);
        Assert.Equal(9, ReadAll(log).Count);
    }

    [Theory]
    [InlineData(CleanerStep.CleanedWritten, false)]
    [InlineData(CleanerStep.SwapRenamed, true)]
    [InlineData(CleanerStep.OldSegmentDeleted, true)]
    [InlineData(CleanerStep.SwapMovedIn, true)]
    public void A_crash_during_the_swap_leaves_either_the_old_or_the_cleaned_segments(CleanerStep step, bool swapDecided)
    {
        using var dir = new TempDir();
        var time = new ManualTime();
        var log = SegmentedLog.Open(dir.Path, CompactConfig, time);
        Fill(log, time);
        var before = ReadAll(log);
        log.CleanerStepHook = s => { if (s == step) throw new InvalidOperationException("crash"); };
        Assert.Throws<InvalidOperationException>(() => log.Clean(log.LogEndOffset, 1000));
        log.SimulateCrash();

        using var reopened = SegmentedLog.Open(dir.Path, CompactConfig, time);
        var after = ReadAll(reopened);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.cleaned"));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.swap"));
        if (swapDecided)
        {
            Assert.Equal([4L, 5, 6, 7, 8], after.Select(r => r.Offset));
        }
        else
        {
            Assert.Equal(before, after);
        }
        Assert.Equal(before.Where(r => r.Offset >= 4), after.Where(r => r.Offset >= 4));

        // A later pass finishes the job either way.
        reopened.Clean(reopened.LogEndOffset, 1000, force: true);
        Assert.Equal([4L, 5, 6, 7, 8], ReadAll(reopened).Select(r => r.Offset));
    }

    [Fact]
    public void Retention_does_not_delete_segments_of_a_compact_only_log()
    {
        using var dir = new TempDir();
        var time = new ManualTime();
        using var log = SegmentedLog.Open(dir.Path, CompactConfig with { RetentionMs = 1, RetentionBytes = 1 }, time);
        Fill(log, time);
        time.Advance(10_000);
        Assert.Equal(0, log.EnforceRetention());
    }

    [Theory]
    [InlineData(null, false, true)]
    [InlineData("delete", false, true)]
    [InlineData("compact", true, false)]
    [InlineData("compact,delete", true, true)]
    [InlineData(" delete , compact ", true, true)]
    public void Cleanup_policy_is_parsed_like_kafka(string? policy, bool compact, bool delete) =>
        Assert.Equal((compact, delete), LogConfig.ParseCleanupPolicy(policy));
}
