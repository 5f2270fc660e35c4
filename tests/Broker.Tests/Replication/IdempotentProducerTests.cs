using Kraft.Broker.Replication;
using Kraft.Storage.Log;
using Kraft.Storage.Records;

namespace Kraft.Broker.Tests.Replication;

/// <summary>
/// Idempotent producers (KIP-98): the pure <see cref="ProducerStateTable"/> decisions, and <see cref="Partition"/>
/// deduplicating a retried batch on the leader, on a new leader after failover, and after a restart (state rebuilt
/// from the log).
/// </summary>
public sealed class IdempotentProducerTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "kraft-idempotent-" + Guid.NewGuid().ToString("N"));
    private readonly List<Partition> _open = [];

    public void Dispose()
    {
        foreach (var p in _open) p.Dispose();
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private static BatchIdentity Id(long producerId, short epoch, int first, int last) => new(producerId, epoch, first, last);

    private static byte[] Batch(long producerId, short epoch, int baseSequence, int records = 3) =>
        Enumerable.Range(0, records).Aggregate(
            new RecordBatchBuilder { ProducerId = producerId, ProducerEpoch = epoch, BaseSequence = baseSequence },
            (b, i) => b.Add(null, System.Text.Encoding.UTF8.GetBytes($"{producerId}-{baseSequence + i}"), 1)).Build();

    private Partition Open(int brokerId)
    {
        var partition = new Partition("t", 0, brokerId, SegmentedLog.Open(Path.Combine(_root, $"broker{brokerId}")), new ReplicationConfig(), TimeProvider.System, (_, _) => { });
        _open.Add(partition);
        return partition;
    }

    private static Task<ProduceOutcome> Produce(Partition leader, byte[] batch) =>
        leader.AppendAsLeaderAsync(batch, acks: 1, minInSyncReplicas: 1, TimeSpan.FromSeconds(5), CancellationToken.None);

    [Fact]
    public void The_table_recognises_retries_of_the_last_five_batches_and_refuses_gaps_and_old_epochs()
    {
        var table = new ProducerStateTable();
        Assert.Equal(ProducerCheck.Append, table.Check(Id(7, 0, 0, 2)));
        for (int i = 0; i < 6; i++) table.OnAppended(Id(7, 0, i * 3, i * 3 + 2), i * 10, i * 10 + 2);

        Assert.Equal(ProducerCheck.Duplicate(50, 52), table.Check(Id(7, 0, 15, 17)));  // the newest batch, retried
        Assert.Equal(ProducerCheck.Duplicate(10, 12), table.Check(Id(7, 0, 3, 5)));    // the oldest of the five retained
        Assert.Equal(ProducerCheckKind.Refuse, table.Check(Id(7, 0, 0, 2)).Kind);       // sixth back: no longer known
        Assert.Equal(ProducerCheck.Append, table.Check(Id(7, 0, 18, 20)));              // next in sequence
        Assert.Equal(ProducerCheck.Refuse(ReplicationError.OutOfOrderSequenceNumber), table.Check(Id(7, 0, 19, 21)));
        Assert.Equal(ProducerCheck.Append, table.Check(Id(7, 1, 0, 0)));                // a bumped epoch restarts at 0
        Assert.Equal(ProducerCheck.Refuse(ReplicationError.OutOfOrderSequenceNumber), table.Check(Id(7, 1, 5, 5)));
        Assert.Equal(ProducerCheck.Append, table.Check(Id(8, 0, 42, 42)));              // unknown producer: any start
        Assert.Equal(ProducerCheck.Append, table.Check(Id(-1, -1, -1, -1)));            // not idempotent at all
    }

    [Fact]
    public void An_older_epoch_is_refused_and_sequences_wrap_after_int_max()
    {
        var table = new ProducerStateTable();
        table.OnAppended(Id(7, 3, int.MaxValue - 1, int.MaxValue), 0, 1);
        Assert.Equal(ProducerCheck.Refuse(ReplicationError.InvalidProducerEpoch), table.Check(Id(7, 2, 0, 0)));
        Assert.Equal(ProducerCheck.Append, table.Check(Id(7, 3, 0, 4)));
        var wrapped = BatchIdentity.Read(Batch(7, 3, int.MaxValue - 1, records: 3));
        Assert.Equal(0, wrapped.LastSequence); // MaxValue-1, MaxValue, 0
    }

    [Fact]
    public async Task A_retried_batch_is_answered_with_its_first_offset_and_not_stored_twice_even_after_a_restart()
    {
        var leader = Open(1);
        leader.BecomeLeader(1, 1, [1], [1]);
        Assert.Equal(0, (await Produce(leader, Batch(7, 0, 0))).BaseOffset);
        Assert.Equal(3, (await Produce(leader, Batch(7, 0, 3))).BaseOffset);
        Assert.Equal(6, (await Produce(leader, Batch(-1, -1, -1))).BaseOffset); // a plain producer in between

        var retry = await Produce(leader, Batch(7, 0, 0));
        Assert.Equal((ReplicationError.None, 0L), (retry.Error, retry.BaseOffset));
        Assert.Equal(9, leader.Log.LogEndOffset);
        Assert.Equal(ReplicationError.OutOfOrderSequenceNumber, (await Produce(leader, Batch(7, 0, 9))).Error);
        Assert.Equal(9, leader.Log.LogEndOffset);

        // Restart: a new Partition over the same files rebuilds the producer state from the log.
        leader.Dispose();
        _open.Remove(leader);
        var reopened = Open(1);
        reopened.BecomeLeader(2, 2, [1], [1]);
        Assert.Equal(3, (await Produce(reopened, Batch(7, 0, 3))).BaseOffset);
        Assert.Equal(9, (await Produce(reopened, Batch(7, 0, 6))).BaseOffset);
        Assert.Equal(12, reopened.Log.LogEndOffset);
    }

    [Fact]
    public async Task A_new_leader_recognises_a_batch_its_predecessor_stored_but_did_not_acknowledge()
    {
        var (one, two) = (Open(1), Open(2));
        one.BecomeLeader(1, 1, [1, 2], [1, 2]);
        two.BecomeFollower(1, 1);
        await Produce(one, Batch(7, 0, 0));
        // The follower copies the batch before and after it builds its own producer state.
        var position = two.NextFetch()!.Value;
        two.ApplyFetchResponse(one.HandleFollowerFetch(2, position.FetchOffset, position.LastFetchedEpoch, position.CurrentLeaderEpoch, 1 << 20));

        // Leader 1 fails before acknowledging; the producer retries on the new leader.
        two.BecomeLeader(2, 2, [1, 2], [2]);
        var retry = await Produce(two, Batch(7, 0, 0));
        Assert.Equal((ReplicationError.None, 0L), (retry.Error, retry.BaseOffset));
        Assert.Equal(3, two.Log.LogEndOffset);
        Assert.Equal(3, (await Produce(two, Batch(7, 0, 3))).BaseOffset);
    }
}
