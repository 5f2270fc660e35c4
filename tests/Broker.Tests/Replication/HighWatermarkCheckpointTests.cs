using Kraft.Broker.Replication;
using Kraft.Broker.Tests.GroupsWire;
using Kraft.Storage.Log;
using Kraft.Storage.Records;

namespace Kraft.Broker.Tests.Replication;

/// <summary>
/// The high-watermark checkpoint of a partition: written at most every replica.high.watermark.checkpoint.interval.ms
/// by the periodic tick (not on every tick: each write costs fsyncs), and once more on a clean close, so that a
/// reopened replica starts from the high watermark it had. A single-replica ISR lets acks=all complete locally.
/// </summary>
public sealed class HighWatermarkCheckpointTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "kraft-hwcp-" + Guid.NewGuid().ToString("N"));
    private readonly ManualClock _clock = new(1_000_000);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private Partition Open() =>
        new("t", 0, 1, SegmentedLog.Open(_directory), new ReplicationConfig { HighWatermarkCheckpointIntervalMs = 5_000 }, _clock, (_, _) => { });

    private static async Task ProduceAsync(Partition leader, string value)
    {
        var batch = new RecordBatchBuilder().Add(null, System.Text.Encoding.UTF8.GetBytes(value), 1).Build();
        var outcome = await leader.AppendAsLeaderAsync(batch, acks: -1, minInSyncReplicas: 1, TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.Equal(ReplicationError.None, outcome.Error);
    }

    [Fact]
    public async Task The_tick_writes_a_changed_high_watermark_at_most_once_per_interval_and_a_clean_close_writes_the_latest()
    {
        var partition = Open();
        partition.BecomeLeader(1, 1, [1], [1]);
        await ProduceAsync(partition, "a");
        partition.Tick();
        Assert.Equal(1, ReadCheckpoint());

        await ProduceAsync(partition, "b");
        _clock.NowMs += 4_000;
        partition.Tick();
        Assert.Equal(1, ReadCheckpoint()); // within the interval: not written

        _clock.NowMs += 1_000;
        partition.Tick();
        Assert.Equal(2, ReadCheckpoint());

        await ProduceAsync(partition, "c");
        partition.Dispose();
        Assert.Equal(3, ReadCheckpoint());

        var reopened = Open();
        Assert.Equal(3, reopened.HighWatermark);
        reopened.Dispose();
    }

    private long ReadCheckpoint()
    {
        string path = Path.Combine(_directory, "high-watermark-checkpoint");
        if (!File.Exists(path)) return -1;
        // Version line, entry count, then the offset (CheckpointFile's text format).
        return long.Parse(File.ReadAllLines(path)[2], System.Globalization.CultureInfo.InvariantCulture);
    }
}
