using Kraft.Storage.Checkpoints;
using Kraft.Storage.Log;
using Kraft.Storage.Records;

namespace Kraft.Storage.Tests;

public class SegmentedLogTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly ManualTime _time = new();

    public void Dispose() => _dir.Dispose();

    private SegmentedLog Open(LogConfig? config = null) => SegmentedLog.Open(_dir.Path, config ?? new LogConfig(), _time);

    private static List<(long Offset, string Value)> ReadAll(SegmentedLog log, long from = -1)
    {
        var all = new List<(long, string)>();
        long offset = from < 0 ? log.LogStartOffset : from;
        while (offset < log.LogEndOffset)
        {
            var result = log.Read(offset, 1 << 20);
            Assert.Equal(LogReadError.None, result.Error);
            if (result.Records.Length == 0)
            {
                break;
            }
            var values = Batches.Values(result.Records);
            all.AddRange(values.Where(v => v.Offset >= offset));
            offset = values[^1].Offset + 1;
        }
        return all;
    }

    private static readonly LogConfig Preallocated = new() { Preallocate = true, PreallocateChunkBytes = 64 * 1024, SegmentBytes = 1 << 20 };

    private long ActiveFileLength() => new FileInfo(Directory.GetFiles(_dir.Path, "*.log").Order().Last()).Length;

    [Fact]
    public void A_preallocated_segment_is_zero_filled_ahead_and_cut_back_to_its_data_on_a_clean_close()
    {
        var log = Open(Preallocated);
        log.AppendAsLeader(Batches.Make("a", 3), leaderEpoch: 1);
        long dataBytes = log.SizeInBytes;
        Assert.Equal(64 * 1024, ActiveFileLength());
        log.Dispose();
        Assert.Equal(dataBytes, ActiveFileLength());
        using var reopened = Open(Preallocated);
        Assert.Equal(3, reopened.LogEndOffset);
        Assert.Equal(["a-0", "a-1", "a-2"], ReadAll(reopened).Select(r => r.Value));
    }

    [Fact]
    public void After_a_crash_the_zero_tail_of_a_preallocated_segment_is_the_end_of_the_log_not_damage()
    {
        var log = Open(Preallocated);
        log.AppendAsLeader(Batches.Make("a", 3), leaderEpoch: 1);
        log.Flush();
        log.SimulateCrash();
        Assert.Equal(64 * 1024, ActiveFileLength());
        using var reopened = Open(Preallocated);
        Assert.Equal(3, reopened.LogEndOffset);
        Assert.Equal(0, reopened.RecoveredTruncatedBytes);
        reopened.AppendAsLeader(Batches.Make("b", 2), leaderEpoch: 1);
        Assert.Equal(["a-0", "a-1", "a-2", "b-0", "b-1"], ReadAll(reopened).Select(r => r.Value));
    }

    [Fact]
    public void Only_the_active_segment_keeps_a_zero_tail_when_a_preallocated_log_rolls()
    {
        using var log = Open(Preallocated with { SegmentBytes = 2048 });
        for (int i = 0; i < 40; i++)
        {
            log.AppendAsLeader(Batches.Make("r" + i, 5), leaderEpoch: 1);
        }
        var files = Directory.GetFiles(_dir.Path, "*.log").Order().ToList();
        Assert.True(files.Count > 2);
        foreach (var file in files[..^1])
        {
            var bytes = File.ReadAllBytes(file);
            var walker = new BatchWalker(bytes);
            while (walker.TryNext(out _, out _, out _))
            {
            }
            Assert.Equal(bytes.Length, walker.Position);
        }
        Assert.Equal(200, ReadAll(log).Count);
    }

    [Fact]
    public void Zeros_in_a_segment_that_is_not_the_last_are_reported_as_damage()
    {
        var log = Open(new LogConfig { SegmentBytes = 2048 });
        for (int i = 0; i < 40; i++)
        {
            log.AppendAsLeader(Batches.Make("r" + i, 5), leaderEpoch: 1);
        }
        log.SimulateCrash();
        var first = Directory.GetFiles(_dir.Path, "*.log").Order().First();
        using (var f = new FileStream(first, FileMode.Open))
        {
            f.Position = f.Length;
            f.Write(new byte[4096]);
        }
        // The recovery point was checkpointed at each roll, so the first segment is trusted: zeros there are not a tail.
        Assert.Throws<LogCorruptionException>(() => Open(new LogConfig { SegmentBytes = 2048 }));
    }

    [Fact]
    public void Leader_appends_assign_contiguous_offsets_and_stamp_the_epoch()
    {
        using var log = Open();
        var a = log.AppendAsLeader(Batches.Make("a", 3), leaderEpoch: 5);
        var b = log.AppendAsLeader(Batches.Make("b", 2), leaderEpoch: 5);
        Assert.Equal((0L, 2L), (a.FirstOffset, a.LastOffset));
        Assert.Equal((3L, 4L), (b.FirstOffset, b.LastOffset));
        Assert.Equal(5, log.LogEndOffset);

        var read = log.Read(0, 1 << 20);
        Assert.Equal(["a-0", "a-1", "a-2", "b-0", "b-1"], Batches.Values(read.Records).Select(v => v.Value));
        Assert.Equal(5, RecordBatchFields.PartitionLeaderEpoch(read.Records));
        Assert.Equal([new EpochEntry(5, 0)], log.EpochCache.Entries);
    }

    [Fact]
    public void Several_batches_in_one_request_are_appended_together()
    {
        using var log = Open();
        byte[] both = [.. Batches.Make("a", 2), .. Batches.Make("b", 3)];
        var result = log.AppendAsLeader(both, 0);
        Assert.Equal((0L, 4L, 2), (result.FirstOffset, result.LastOffset, result.BatchCount));
        Assert.Equal(["a-0", "a-1", "b-0", "b-1", "b-2"], ReadAll(log).Select(v => v.Value));
    }

    [Fact]
    public void Bad_batches_are_refused_and_nothing_is_written()
    {
        using var log = Open(new LogConfig { MaxMessageBytes = 200 });
        var good = Batches.Make("g", 1);
        var corrupt = Batches.Make("c", 1);
        corrupt[^1] ^= 1;
        Assert.Equal(AppendError.CorruptMessage, log.AppendAsLeader([.. good, .. corrupt], 0).Error);
        Assert.Equal(AppendError.MessageTooLarge, log.AppendAsLeader(Batches.Make("big", 1, valueSize: 500), 0).Error);
        Assert.Equal(AppendError.InvalidRecord, log.AppendAsLeader(good.AsSpan(0, 30).ToArray(), 0).Error);
        Assert.Equal(AppendError.InvalidRecord, log.AppendAsLeader([], 0).Error);
        Assert.Equal(0, log.LogEndOffset);
        Assert.Equal(0, log.SizeInBytes);
    }

    [Fact]
    public void Reads_respect_max_bytes_the_upper_bound_and_return_at_least_one_batch()
    {
        using var log = Open();
        for (int i = 0; i < 10; i++)
        {
            log.AppendAsLeader(Batches.Make($"b{i}", 2), 0);
        }
        int batchSize = Batches.Make("b0", 2).Length;

        var small = log.Read(0, 1);
        Assert.Equal(batchSize, small.Records.Length); // minOneBatch (KIP-74)
        Assert.Empty(log.Read(0, 1, minOneBatch: false).Records);

        var three = log.Read(0, batchSize * 3 + 5);
        Assert.Equal(6, Batches.Values(three.Records).Count);

        var bounded = log.Read(0, 1 << 20, maxOffsetExclusive: 7); // batch 6-7 straddles 7: excluded
        Assert.Equal(6, Batches.Values(bounded.Records).Count);

        var mid = log.Read(5, 1 << 20); // offset inside batch 4-5: that batch is returned whole
        Assert.Equal(4, Batches.Values(mid.Records)[0].Offset);

        Assert.Equal(LogReadError.OffsetOutOfRange, log.Read(21, 100).Error);
        Assert.Equal(LogReadError.None, log.Read(20, 100).Error);
        Assert.Empty(log.Read(20, 100).Records);
    }

    [Fact]
    public void Segments_roll_by_size_and_reads_span_them()
    {
        var config = new LogConfig { SegmentBytes = 1000, IndexIntervalBytes = 100 };
        using (var log = Open(config))
        {
            for (int i = 0; i < 50; i++)
            {
                log.AppendAsLeader(Batches.Make($"s{i}", 2), 0);
            }
            Assert.True(log.SegmentCount >= 4, $"segments: {log.SegmentCount}");
            Assert.Equal(100, ReadAll(log).Count);
        }
        using var reopened = Open(config);
        Assert.Equal(100, reopened.LogEndOffset);
        Assert.Equal(0, reopened.RecoveredTruncatedBytes);
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (long)i), ReadAll(reopened).Select(v => v.Offset));
    }

    [Fact]
    public void Segments_roll_by_age()
    {
        using var log = Open(new LogConfig { SegmentMs = 60_000 });
        log.AppendAsLeader(Batches.Make("a", 1), 0);
        _time.Advance(59_000);
        log.AppendAsLeader(Batches.Make("b", 1), 0);
        Assert.Equal(1, log.SegmentCount);
        _time.Advance(2_000);
        log.AppendAsLeader(Batches.Make("c", 1), 0);
        Assert.Equal(2, log.SegmentCount);
    }

    [Fact]
    public void Truncation_removes_the_tail_and_the_epochs_that_started_in_it()
    {
        using var log = Open(new LogConfig { SegmentBytes = 500 });
        for (int i = 0; i < 10; i++)
        {
            log.AppendAsLeader(Batches.Make($"e{i}", 2), leaderEpoch: i / 3);
        }
        Assert.Equal(4, log.EpochCache.Entries.Count);
        Assert.Equal(8, log.TruncateTo(9)); // batch 8-9 straddles 9: cut at its start
        Assert.Equal(8, log.LogEndOffset);
        log.TruncateTo(6);
        Assert.Equal(6, log.LogEndOffset);
        Assert.Equal([0], log.EpochCache.Entries.Select(e => e.Epoch)); // epoch 1 started at 6
        Assert.Equal(6, ReadAll(log).Count);

        var next = log.AppendAsLeader(Batches.Make("new", 1), leaderEpoch: 9);
        Assert.Equal(6, next.FirstOffset);
        Assert.Equal((9, 6L), (log.EpochCache.Entries[^1].Epoch, log.EpochCache.Entries[^1].StartOffset));
    }

    [Fact]
    public void Followers_append_the_leaders_offsets_and_learn_its_epochs()
    {
        using var leader = SegmentedLog.Open(Path.Combine(_dir.Path, "leader"), new LogConfig(), _time);
        using var follower = SegmentedLog.Open(Path.Combine(_dir.Path, "follower"), new LogConfig(), _time);
        leader.AppendAsLeader(Batches.Make("a", 2), 1);
        leader.AppendAsLeader(Batches.Make("b", 2), 3);
        var fetched = leader.Read(0, 1 << 20);
        Assert.Equal(AppendError.None, follower.AppendAsFollower(fetched.Records).Error);
        Assert.Equal(4, follower.LogEndOffset);
        Assert.Equal(leader.EpochCache.Entries, follower.EpochCache.Entries);
        Assert.Equal(AppendError.OffsetsOutOfOrder, follower.AppendAsFollower(fetched.Records).Error);
    }

    [Fact]
    public void Retention_by_size_deletes_whole_old_segments_and_moves_the_log_start()
    {
        using var log = Open(new LogConfig { SegmentBytes = 300, RetentionBytes = 900, RetentionMs = -1 });
        for (int i = 0; i < 30; i++)
        {
            log.AppendAsLeader(Batches.Make($"r{i}", 1), 0);
        }
        long before = log.SizeInBytes;
        int deleted = log.EnforceRetention();
        Assert.True(deleted > 0);
        Assert.True(log.SizeInBytes <= 900 + 300, $"size {log.SizeInBytes} (was {before})");
        Assert.True(log.LogStartOffset > 0);
        Assert.Equal(LogReadError.OffsetOutOfRange, log.Read(0, 100).Error);
        Assert.Equal(log.LogStartOffset, ReadAll(log)[0].Offset);
    }

    [Fact]
    public void Retention_by_time_uses_the_newest_timestamp_of_a_segment_and_stops_at_the_high_watermark()
    {
        using var log = Open(new LogConfig { SegmentBytes = 300, RetentionMs = 10_000 });
        long now = _time.NowMs;
        for (int i = 0; i < 10; i++)
        {
            log.AppendAsLeader(Batches.Make($"t{i}", 1, timestampMs: now - 60_000), 0);
        }
        for (int i = 0; i < 3; i++)
        {
            log.AppendAsLeader(Batches.Make($"n{i}", 1, timestampMs: now), 0);
        }
        Assert.Equal(0, log.EnforceRetention(upperBoundOffset: 0));
        Assert.True(log.EnforceRetention() > 0);
        Assert.All(ReadAll(log), v => Assert.True(v.Offset >= log.LogStartOffset));
        Assert.Contains(ReadAll(log), v => v.Value == "n2-0");
    }

    [Fact]
    public void Advancing_the_log_start_makes_older_offsets_out_of_range_and_survives_reopen()
    {
        using (var log = Open(new LogConfig { SegmentBytes = 300 }))
        {
            for (int i = 0; i < 20; i++)
            {
                log.AppendAsLeader(Batches.Make($"x{i}", 1), 0);
            }
            log.AdvanceLogStartOffset(12);
            Assert.Equal(LogReadError.OffsetOutOfRange, log.Read(11, 100).Error);
            Assert.Equal(12, ReadAll(log)[0].Offset);
        }
        using var reopened = Open(new LogConfig { SegmentBytes = 300 });
        Assert.Equal(12, reopened.LogStartOffset);
        Assert.Equal(20, reopened.LogEndOffset);
    }

    [Fact]
    public void Truncating_fully_restarts_the_log_at_a_new_offset()
    {
        using var log = Open();
        log.AppendAsLeader(Batches.Make("a", 5), 0);
        log.TruncateFullyAndStartAt(1000);
        Assert.Equal((1000L, 1000L), (log.LogStartOffset, log.LogEndOffset));
        Assert.Equal(1000, log.AppendAsLeader(Batches.Make("b", 1), 1).FirstOffset);
    }

    [Fact]
    public void A_torn_tail_is_cut_at_the_first_bad_batch_on_reopen()
    {
        long flushedEnd;
        using (var log = Open())
        {
            log.AppendAsLeader(Batches.Make("a", 3), 0);
            log.Flush();
            flushedEnd = log.LogEndOffset;
            log.AppendAsLeader(Batches.Make("b", 3), 0);
            log.SimulateCrash();
        }
        var segment = Directory.GetFiles(_dir.Path, "*.log").Single();
        long length = new FileInfo(segment).Length;
        using (var f = new FileStream(segment, FileMode.Open))
        {
            f.SetLength(length - 7); // the second batch is torn
        }
        using var reopened = Open();
        Assert.Equal(flushedEnd, reopened.LogEndOffset);
        Assert.True(reopened.RecoveredTruncatedBytes > 0);
        Assert.Equal(3, ReadAll(reopened).Count);
        Assert.Equal(3, reopened.AppendAsLeader(Batches.Make("c", 1), 0).FirstOffset);
    }

    [Fact]
    public void Garbage_after_the_last_batch_is_cut_on_reopen()
    {
        using (var log = Open())
        {
            log.AppendAsLeader(Batches.Make("a", 2), 0);
            log.SimulateCrash();
        }
        var segment = Directory.GetFiles(_dir.Path, "*.log").Single();
        File.AppendAllText(segment, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0garbage");
        using var reopened = Open();
        Assert.Equal(2, reopened.LogEndOffset);
        Assert.Equal(2, ReadAll(reopened).Count);
    }

    [Fact]
    public void Damage_below_the_recovery_point_is_reported_with_file_and_offset_not_cut()
    {
        var config = new LogConfig { SegmentBytes = 300 };
        using (var log = Open(config))
        {
            for (int i = 0; i < 10; i++)
            {
                log.AppendAsLeader(Batches.Make($"d{i}", 1), 0);
            }
        }
        var first = Directory.GetFiles(_dir.Path, "*.log").Order().First();
        var bytes = File.ReadAllBytes(first);
        bytes[^3] ^= 0x55; // flip a byte in a fsynced, non-active segment
        File.WriteAllBytes(first, bytes);
        File.Delete(Path.ChangeExtension(first, ".index")); // force a rescan of that segment
        var error = Assert.Throws<LogCorruptionException>(() => Open(config));
        Assert.Contains(Path.GetFileName(first), error.Message);
        Assert.Equal(first, error.File);
    }

    [Fact]
    public void Damaged_data_is_never_served_by_a_read()
    {
        using var log = Open();
        log.AppendAsLeader(Batches.Make("a", 2), 0);
        log.Flush();
        var segment = Directory.GetFiles(_dir.Path, "*.log").Single();
        using (var f = new FileStream(segment, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            f.Position = f.Length - 2;
            f.WriteByte(0x42);
        }
        var error = Assert.Throws<LogCorruptionException>(() => log.Read(0, 1000));
        Assert.Equal(segment, error.File);
    }

    [Fact]
    public void An_index_that_disagrees_with_its_log_is_rebuilt()
    {
        var config = new LogConfig { SegmentBytes = 400, IndexIntervalBytes = 50 };
        using (var log = Open(config))
        {
            for (int i = 0; i < 12; i++)
            {
                log.AppendAsLeader(Batches.Make($"i{i}", 1), 0);
            }
        }
        foreach (var index in Directory.GetFiles(_dir.Path, "*.index"))
        {
            var bytes = File.ReadAllBytes(index);
            if (bytes.Length >= 32)
            {
                bytes[bytes.Length - 16 + 3] ^= 0x7F; // wrong relative offset in the last entry
                File.WriteAllBytes(index, bytes);
            }
            else
            {
                File.WriteAllBytes(index, [1, 2, 3]); // wrong size
            }
        }
        using var reopened = Open(config);
        Assert.Equal(12, reopened.LogEndOffset);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (long)i), ReadAll(reopened).Select(v => v.Offset));
        for (long offset = 0; offset < 12; offset++)
        {
            Assert.Equal(offset, Batches.Values(reopened.Read(offset, 1).Records)[0].Offset);
        }
    }

    [Fact]
    public void Offsets_for_timestamps_find_the_first_batch_at_or_after_the_time()
    {
        using var log = Open(new LogConfig { IndexIntervalBytes = 1 });
        for (int i = 0; i < 10; i++)
        {
            log.AppendAsLeader(Batches.Make($"t{i}", 1, timestampMs: 1000 + i * 10), 0);
        }
        Assert.Equal(0, log.OffsetForTimestamp(0));
        Assert.Equal(3, log.OffsetForTimestamp(1025));
        Assert.Equal(3, log.OffsetForTimestamp(1030));
        Assert.Equal(-1, log.OffsetForTimestamp(5000));
    }

    [Fact]
    public void Flush_policy_by_message_count_advances_the_recovery_point()
    {
        using var log = Open(new LogConfig { FlushIntervalMessages = 5 });
        log.AppendAsLeader(Batches.Make("a", 3), 0);
        Assert.Equal(0, log.RecoveryPoint);
        log.AppendAsLeader(Batches.Make("b", 3), 0);
        Assert.Equal(6, log.RecoveryPoint);
    }

    [Fact]
    public void Flush_policy_by_interval_flushes_when_the_oldest_append_is_old_enough()
    {
        using var log = Open(new LogConfig { FlushIntervalMs = 1000 });
        log.AppendAsLeader(Batches.Make("a", 1), 0);
        Assert.False(log.MaybeFlush());
        _time.Advance(1000);
        Assert.True(log.MaybeFlush());
        Assert.Equal(1, log.RecoveryPoint);
    }

    [Fact]
    public void Fsync_every_append_keeps_the_recovery_point_at_the_end()
    {
        using var log = Open(new LogConfig { FsyncEveryAppend = true });
        log.AppendAsLeader(Batches.Make("a", 2), 0);
        Assert.Equal(2, log.RecoveryPoint);
    }

    [Fact]
    public void High_watermark_checkpoint_round_trips()
    {
        using (var log = Open())
        {
            log.AppendAsLeader(Batches.Make("a", 4), 0);
            log.CheckpointHighWatermark(3);
        }
        using var reopened = Open();
        Assert.Equal(3, reopened.ReadHighWatermarkCheckpoint());
    }

    [Fact]
    public void Leader_epochs_survive_reopen()
    {
        using (var log = Open())
        {
            log.AppendAsLeader(Batches.Make("a", 2), 1);
            log.AppendAsLeader(Batches.Make("b", 2), 4);
        }
        using var reopened = Open();
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(4, 2)], reopened.EpochCache.Entries);
    }
}
