using Kraft.Broker.Replication;
using Kraft.Storage.Log;
using Kraft.Storage.Records;

namespace Kraft.Broker.Tests.Replication;

/// <summary>
/// KIP-207: a new leader's high watermark, inherited from its follower days, may lag what its predecessor had
/// acknowledged; until it reaches the new leader's epoch start offset, "latest offset" is not available.
/// </summary>
public sealed class LeaderHighWatermarkTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "kraft-hw-" + Guid.NewGuid().ToString("N"));
    private readonly List<Partition> _open = [];

    public void Dispose()
    {
        foreach (var p in _open) p.Dispose();
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private Partition Open(int brokerId)
    {
        var partition = new Partition("t", 0, brokerId, SegmentedLog.Open(Path.Combine(_root, $"broker{brokerId}")), new ReplicationConfig(), TimeProvider.System, (_, _) => { });
        _open.Add(partition);
        return partition;
    }

    private static void FetchOnce(Partition leader, Partition follower)
    {
        var position = follower.NextFetch()!.Value;
        follower.ApplyFetchResponse(leader.HandleFollowerFetch(follower.LocalBrokerId, position.FetchOffset, position.LastFetchedEpoch, position.CurrentLeaderEpoch, 1 << 20));
    }

    [Fact]
    public async Task A_new_leader_establishes_its_high_watermark_only_once_a_follower_reaches_its_epoch_start()
    {
        var (one, two) = (Open(1), Open(2));
        one.BecomeLeader(1, 1, [1, 2], [1, 2]);
        two.BecomeFollower(1, 1);
        Assert.True(one.HighWatermarkEstablished);
        await one.AppendAsLeaderAsync(new RecordBatchBuilder().Add(null, "a"u8.ToArray()).Build(), acks: 1, 1, TimeSpan.FromSeconds(5), CancellationToken.None);
        FetchOnce(one, two); // copies "a"
        FetchOnce(one, two); // its position commits "a"; the answer tells it so
        await one.AppendAsLeaderAsync(new RecordBatchBuilder().Add(null, "b"u8.ToArray()).Build(), acks: 1, 1, TimeSpan.FromSeconds(5), CancellationToken.None);
        FetchOnce(one, two); // copies "b", but learns that "b" is committed only on a later fetch
        Assert.Equal((1L, 2L), (two.HighWatermark, two.Log.LogEndOffset));

        two.BecomeLeader(2, 2, [1, 2], [1, 2]);
        one.BecomeFollower(2, 2);
        Assert.False(two.HighWatermarkEstablished);
        FetchOnce(two, one);
        Assert.True(two.HighWatermarkEstablished);
        Assert.Equal(2, two.HighWatermark);
    }

    [Fact]
    public async Task A_leader_alone_in_its_isr_commits_its_whole_log_when_it_takes_over()
    {
        var one = Open(1);
        one.BecomeLeader(1, 1, [1], [1]);
        await one.AppendAsLeaderAsync(new RecordBatchBuilder().Add(null, "a"u8.ToArray()).Build(), acks: 1, 1, TimeSpan.FromSeconds(5), CancellationToken.None);
        one.Dispose();
        _open.Remove(one);

        var reopened = Open(1); // its high-watermark checkpoint was never written
        reopened.BecomeLeader(2, 2, [1], [1]);
        Assert.True(reopened.HighWatermarkEstablished);
        Assert.Equal(1, reopened.HighWatermark);
    }
}
