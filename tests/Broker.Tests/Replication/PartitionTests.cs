using Kraft.Broker.Replication;
using Kraft.Storage.Log;
using Kraft.Storage.Records;

namespace Kraft.Broker.Tests.Replication;

/// <summary>
/// Three replicas of one partition in one process, each with a real log on disk, wired by direct calls
/// instead of a network: produce with each acks setting, follower fetches, ISR changes answered by a tiny
/// in-test controller, and a leader change with truncation of a diverged follower.
/// </summary>
public sealed class PartitionTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "kraft-partition-" + Guid.NewGuid().ToString("N"));
    private readonly List<(Partition From, AlterIsrRequest Request)> _alters = [];
    private readonly Partition[] _replicas;
    private int _partitionEpoch = 1;

    public PartitionTests()
    {
        var config = new ReplicationConfig { ReplicaLagTimeMaxMs = 10_000 };
        _replicas = Enumerable.Range(1, 3).Select(id =>
            new Partition("t", 0, id, SegmentedLog.Open(Path.Combine(_root, $"broker{id}")), config, TimeProvider.System, (p, a) => _alters.Add((p, a)))).ToArray();
        _replicas[0].BecomeLeader(1, _partitionEpoch, [1, 2, 3], [1, 2, 3]);
        _replicas[1].BecomeFollower(1, 1);
        _replicas[2].BecomeFollower(1, 1);
    }

    public void Dispose()
    {
        foreach (var r in _replicas) r.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private static byte[] Batch(string value) => new RecordBatchBuilder().Add(null, System.Text.Encoding.UTF8.GetBytes(value), 1).Build();

    /// <summary>One fetch round from each follower to the current leader.</summary>
    private void Replicate(Partition leader, params Partition[] followers)
    {
        foreach (var follower in followers)
        {
            var position = follower.NextFetch()!.Value;
            var answer = leader.HandleFollowerFetch(follower.LocalBrokerId, position.FetchOffset, position.LastFetchedEpoch, position.CurrentLeaderEpoch, 1 << 20);
            follower.ApplyFetchResponse(answer);
        }
        foreach (var (from, request) in _alters.ToList())
        {
            _alters.Remove((from, request));
            _partitionEpoch++;
            from.OnIsrCommitted(request.NewIsr, _partitionEpoch);
        }
    }

    [Fact]
    public async Task Acks_all_completes_only_once_every_isr_member_has_the_batch()
    {
        var leader = _replicas[0];
        var produce = leader.AppendAsLeaderAsync(Batch("a"), acks: -1, minInSyncReplicas: 2, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.False(produce.IsCompleted);
        Replicate(leader, _replicas[1]);
        Assert.False(produce.IsCompleted); // replica 3 is in the ISR and has not fetched
        Replicate(leader, _replicas[2]);   // fetch 1: gets the batch
        Replicate(leader, _replicas[1], _replicas[2]); // fetch 2: reports it has it
        var outcome = await produce;
        Assert.Equal((ReplicationError.None, 0L), (outcome.Error, outcome.BaseOffset));
        Assert.Equal(1, leader.HighWatermark);
    }

    [Fact]
    public async Task Acks_1_is_answered_after_the_local_append_and_consumers_still_wait_for_the_high_watermark()
    {
        var leader = _replicas[0];
        var outcome = await leader.AppendAsLeaderAsync(Batch("a"), acks: 1, minInSyncReplicas: 2, TimeSpan.FromSeconds(1), CancellationToken.None);
        Assert.Equal(ReplicationError.None, outcome.Error);
        Assert.True(leader.ReadForConsumer(0, 1000, -1).Records.IsEmpty);
        Replicate(leader, _replicas[1], _replicas[2]);
        Replicate(leader, _replicas[1], _replicas[2]);
        Assert.False(leader.ReadForConsumer(0, 1000, -1).Records.IsEmpty);
    }

    [Fact]
    public async Task Acks_all_times_out_when_followers_do_not_fetch()
    {
        var outcome = await _replicas[0].AppendAsLeaderAsync(Batch("a"), -1, 2, TimeSpan.FromMilliseconds(50), CancellationToken.None);
        Assert.Equal(ReplicationError.RequestTimedOut, outcome.Error);
    }

    [Fact]
    public async Task Acks_all_is_refused_when_the_isr_is_below_min_insync_replicas()
    {
        _replicas[0].OnIsrCommitted([1], ++_partitionEpoch);
        var outcome = await _replicas[0].AppendAsLeaderAsync(Batch("a"), -1, 2, TimeSpan.FromSeconds(1), CancellationToken.None);
        Assert.Equal(ReplicationError.NotEnoughReplicas, outcome.Error);
        Assert.Equal(0, _replicas[0].Log.LogEndOffset); // nothing written
    }

    [Fact]
    public async Task Followers_refuse_produce_and_stale_epochs_are_fenced()
    {
        var outcome = await _replicas[1].AppendAsLeaderAsync(Batch("a"), 1, 1, TimeSpan.FromSeconds(1), CancellationToken.None);
        Assert.Equal(ReplicationError.NotLeaderOrFollower, outcome.Error);
        Assert.Equal(ReplicationError.FencedLeaderEpoch, _replicas[0].ReadForConsumer(0, 100, currentLeaderEpoch: 0).Error);
    }

    [Fact]
    public async Task A_new_leader_makes_a_diverged_follower_truncate_its_unacknowledged_tail()
    {
        var old = _replicas[0];
        await old.AppendAsLeaderAsync(Batch("committed"), 1, 1, TimeSpan.FromSeconds(1), CancellationToken.None);
        Replicate(old, _replicas[1], _replicas[2]);
        Replicate(old, _replicas[1], _replicas[2]);
        Assert.Equal(1, old.HighWatermark);
        // The old leader appends two more batches nobody fetches, then loses leadership to replica 2.
        await old.AppendAsLeaderAsync(Batch("lost-1"), 1, 1, TimeSpan.FromSeconds(1), CancellationToken.None);
        await old.AppendAsLeaderAsync(Batch("lost-2"), 1, 1, TimeSpan.FromSeconds(1), CancellationToken.None);
        var leader = _replicas[1];
        leader.BecomeLeader(2, ++_partitionEpoch, [1, 2, 3], [2, 3]);
        _replicas[2].BecomeFollower(2, 2);
        old.BecomeFollower(2, 2);
        await leader.AppendAsLeaderAsync(Batch("new"), 1, 1, TimeSpan.FromSeconds(1), CancellationToken.None);

        for (int i = 0; i < 4; i++) Replicate(leader, old, _replicas[2]);

        static List<string> Values(Partition p)
        {
            var bytes = p.Log.Read(0, 1 << 20).Records;
            var values = new List<string>();
            var walker = new BatchWalker(bytes);
            while (walker.TryNext(out var h, out int at, out _))
            {
                var reader = new RecordReader(bytes.AsSpan(at + RecordBatch.HeaderSize, h.SizeInBytes - RecordBatch.HeaderSize));
                while (reader.TryReadNext(out var r, out _)) values.Add(System.Text.Encoding.UTF8.GetString(r.Value));
            }
            return values;
        }
        Assert.Equal(["committed", "new"], Values(old));
        Assert.Equal(["committed", "new"], Values(_replicas[2]));
        Assert.Equal([1, 2, 3], leader.Isr.Order());
        Assert.Equal(2, leader.HighWatermark);
    }
}
