using System.Diagnostics.Metrics;
using Kraft.Quorum.Raft;
using Kraft.Quorum.RaftDriver;
using Microsoft.Extensions.Logging.Abstractions;
using Driver = Kraft.Quorum.RaftDriver.RaftDriver;

namespace Kraft.Quorum.Tests.RaftDriver;

/// <summary>
/// The Raft metrics: the pure trackers (elections, commit latency, gauge snapshots) scenario by scenario, then a
/// real single-voter driver whose instruments are read through a MeterListener that only listens to meters tagged
/// with this test's node id (other tests run drivers in parallel).
/// </summary>
public sealed class RaftMetricsTests : IDisposable
{
    private static readonly NodeId Self = new(4242);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "kraft-raft-metrics-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    private static RoleInfo R(RaftRole role, int epoch, int? leader = null) => new(role, epoch, leader is int l ? new NodeId(l) : null);

    [Fact]
    public void A_candidacy_that_ends_in_leadership_is_won_and_one_that_ends_following_another_is_lost()
    {
        var tracker = new ElectionTracker();
        Assert.Null(tracker.Observe(R(RaftRole.Unattached, 1)));
        Assert.Null(tracker.Observe(R(RaftRole.Prospective, 1)));
        Assert.Null(tracker.Observe(R(RaftRole.Candidate, 2)));
        Assert.Equal(ElectionResult.Won, tracker.Observe(R(RaftRole.Leader, 2, 1)));
        Assert.Null(tracker.Observe(R(RaftRole.Follower, 3, 2))); // deposed: not an election it stood in
        Assert.Null(tracker.Observe(R(RaftRole.Candidate, 4)));
        Assert.Equal(ElectionResult.Lost, tracker.Observe(R(RaftRole.Follower, 4, 3)));
    }

    [Fact]
    public void A_candidacy_replaced_by_a_higher_epoch_candidacy_is_lost_and_a_leadership_seen_without_its_candidacy_is_won()
    {
        var tracker = new ElectionTracker();
        Assert.Null(tracker.Observe(R(RaftRole.Candidate, 2)));
        Assert.Equal(ElectionResult.Lost, tracker.Observe(R(RaftRole.Candidate, 3)));
        Assert.Equal(ElectionResult.Won, tracker.Observe(R(RaftRole.Leader, 3, 1)));
        Assert.Null(tracker.Observe(R(RaftRole.Leader, 3, 1))); // the same leadership again
        Assert.Null(tracker.Observe(R(RaftRole.Resigned, 3)));
        // The core may go prospective, candidate and leader inside one step: the driver sees only the leadership.
        Assert.Equal(ElectionResult.Won, tracker.Observe(R(RaftRole.Leader, 4, 1)));
    }

    [Fact]
    public void Commit_latency_is_measured_per_append_once_the_high_watermark_covers_its_last_offset()
    {
        var tracker = new CommitLatencyTracker();
        tracker.OnLeaderAppend(endOffset: 3, nowMs: 10);
        tracker.OnLeaderAppend(endOffset: 5, nowMs: 12);
        tracker.OnLeaderAppend(endOffset: 5, nowMs: 13); // nothing new appended: ignored
        Assert.Equal(2, tracker.Tracked);
        Assert.Empty(tracker.OnHighWatermark(2, nowMs: 14));
        Assert.Equal([5.0], tracker.OnHighWatermark(3, nowMs: 15));
        Assert.Equal([8.0], tracker.OnHighWatermark(9, nowMs: 20));
        Assert.Equal(0, tracker.Tracked);

        tracker.OnLeaderAppend(10, 30);
        tracker.Reset(); // leadership lost: the entry may never commit in this epoch
        Assert.Empty(tracker.OnHighWatermark(11, 40));
    }

    [Fact]
    public void Commit_latency_tracking_is_bounded_while_commits_stall()
    {
        var tracker = new CommitLatencyTracker();
        for (int i = 1; i <= CommitLatencyTracker.Capacity + 10; i++)
        {
            tracker.OnLeaderAppend(i, i);
        }
        Assert.Equal(CommitLatencyTracker.Capacity, tracker.Tracked);
        Assert.Equal(CommitLatencyTracker.Capacity, tracker.OnHighWatermark(long.MaxValue, 1e9).Count);
    }

    [Fact]
    public void The_leader_gauges_show_every_voter_and_the_lag_of_followers_whose_fetch_offset_is_known()
    {
        var view = new QuorumDescription(new NodeId(1), 7, 90,
            [new ReplicaDescription(new NodeId(1), 100, 0, 0), new ReplicaDescription(new NodeId(2), 60, 0, 0), new ReplicaDescription(new NodeId(3), -1, -1, -1)], []);
        var leader = RaftGaugeSnapshot.From(RaftRole.Leader, new NodeId(1), 100, view);
        Assert.Equal([(new NodeId(1), 100L), (new NodeId(2), 60L), (new NodeId(3), -1L)], leader.LogEndOffsets);
        Assert.Equal([(new NodeId(2), 40L)], leader.FollowerFetchLags);

        var follower = RaftGaugeSnapshot.From(RaftRole.Follower, new NodeId(2), 60, null);
        Assert.Equal([(new NodeId(2), 60L)], follower.LogEndOffsets);
        Assert.Empty(follower.FollowerFetchLags);
    }

    /// <summary>Collects measurements of meters tagged kraft.node.id = 4242, by instrument name and label text.</summary>
    private sealed class Collector : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Lock _lock = new();
        private readonly Dictionary<string, List<(double Value, string Labels)>> _measurements = [];

        public Collector()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "Kraft.Quorum" && instrument.Meter.Tags?.Any(t => t.Key == RaftMetrics.NodeIdTag && Equals(t.Value, Self.Value)) == true)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i.Name, v, tags));
            _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Add(i.Name, v, tags));
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i.Name, v, tags));
            _listener.Start();
        }

        private void Add(string name, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string labels = string.Join(',', tags.ToArray().Select(t => $"{t.Key}={t.Value}"));
            lock (_lock)
            {
                if (!_measurements.TryGetValue(name, out var list)) _measurements[name] = list = [];
                list.Add((value, labels));
            }
        }

        public List<(double Value, string Labels)> Of(string name)
        {
            lock (_lock)
            {
                return _measurements.TryGetValue(name, out var list) ? [.. list] : [];
            }
        }

        public void Observe()
        {
            lock (_lock)
            {
                foreach (var key in _measurements.Keys.Where(k => k is "kraft.raft.state" or "kraft.raft.log_end_offset" or "kraft.raft.follower.fetch.lag" or "kraft.raft.elections").ToList())
                {
                    _measurements.Remove(key);
                }
            }
            _listener.RecordObservableInstruments();
        }

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public async Task A_single_voter_driver_counts_its_won_election_times_its_commits_and_shows_its_state()
    {
        using var collector = new Collector();
        var options = new RaftDriverOptions(_directory, new RaftOptions { NodeId = Self, Voters = [Self], ElectionTimeoutMs = 50, FetchTimeoutMs = 100 });
        await using (var driver = Driver.Open(options, new NoTransport(), new ListStateMachine(), TimeProvider.System, NullLogger.Instance))
        {
            driver.Start();
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
            {
                while (driver.Role.Role != RaftRole.Leader || driver.HighWatermark < 1)
                {
                    await Task.Delay(5, timeout.Token);
                }
            }
            for (int i = 0; i < 3; i++)
            {
                var outcome = await driver.ProposeAsync([(byte)i], CancellationToken.None);
                Assert.True(outcome.Committed, outcome.Error);
            }

            Assert.Equal(RaftRole.Leader, driver.Role.Role);
            collector.Observe();
            Assert.Equal([(1.0, "result=won"), (0.0, "result=lost")], collector.Of("kraft.raft.elections"));
            // The LeaderChange entry and the three proposals each commit after their own append.
            var latencies = collector.Of("kraft.raft.commit.latency");
            Assert.InRange(latencies.Count, 2, 4);
            Assert.All(latencies, l => Assert.InRange(l.Value, 0, 10_000));

            // Gauges refresh on the driver thread at most every 200 ms; the role change refreshed them at once.
            collector.Observe();
            Assert.Contains((1.0, "state=leader"), collector.Of("kraft.raft.state"));
            Assert.Contains((0.0, "state=follower"), collector.Of("kraft.raft.state"));
            Assert.Equal(Enum.GetValues<RaftRole>().Length, collector.Of("kraft.raft.state").Count);
            var ends = collector.Of("kraft.raft.log_end_offset");
            Assert.Single(ends);
            Assert.Equal($"replica={Self.Value}", ends[0].Labels);
            Assert.True(ends[0].Value >= 1, "the leader's log holds at least its LeaderChange entry");
            Assert.Empty(collector.Of("kraft.raft.follower.fetch.lag")); // no followers
        }

        // Disposed with the driver: nothing is reported any more.
        collector.Observe();
        Assert.Empty(collector.Of("kraft.raft.state"));
    }
}
