using System.Diagnostics.Metrics;
using Kraft.Storage.Log;

namespace Kraft.Storage.Tests;

/// <summary>
/// kraft.storage.flush.latency: one measurement per fsync of a segment that held unsynced appends, labelled with the
/// log's kind. The meter is process-wide, so each test labels its log with a kind of its own and counts only that.
/// </summary>
public class StorageMetricsTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _kind = "test-" + Guid.NewGuid().ToString("N")[..8];
    private readonly MeterListener _listener = new();
    private readonly List<double> _flushes = [];

    public StorageMetricsTests()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Kraft.Storage" && instrument.Name == "kraft.storage.flush.latency")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "log" && Equals(tag.Value, _kind))
                {
                    lock (_flushes) _flushes.Add(value);
                }
            }
        });
        _listener.Start();
    }

    public void Dispose()
    {
        _listener.Dispose();
        _dir.Dispose();
    }

    private int Flushes { get { lock (_flushes) return _flushes.Count; } }

    [Fact]
    public void Each_flush_of_unsynced_appends_is_timed_once_and_a_flush_with_nothing_to_sync_is_not()
    {
        using var log = SegmentedLog.Open(_dir.Path, new LogConfig { MetricsLogKind = _kind }, new ManualTime());
        log.AppendAsLeader(Batches.Make("a", 3), leaderEpoch: 0);
        Assert.Equal(0, Flushes);

        log.Flush();
        Assert.Equal(1, Flushes);
        log.Flush(); // nothing new: no fsync of data, nothing measured
        Assert.Equal(1, Flushes);

        log.AppendAsLeader(Batches.Make("b", 1), leaderEpoch: 0);
        log.RollNow(); // a roll makes the old segment durable first
        Assert.Equal(2, Flushes);
        lock (_flushes) Assert.All(_flushes, ms => Assert.InRange(ms, 0, 60_000));
    }

    [Fact]
    public void Fsync_every_append_times_every_append_and_the_kind_defaults_to_partition()
    {
        Assert.Equal(StorageMetrics.PartitionLog, LogConfig.Default.MetricsLogKind);
        using var log = SegmentedLog.Open(_dir.Path, new LogConfig { MetricsLogKind = _kind, FsyncEveryAppend = true }, new ManualTime());
        for (int i = 0; i < 3; i++)
        {
            log.AppendAsLeader(Batches.Make("x", 1), leaderEpoch: 0);
        }
        Assert.Equal(3, Flushes);
    }
}
