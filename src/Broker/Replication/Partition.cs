using System.Buffers.Binary;
using Kraft.Storage.Log;
using Kraft.Storage.Records;

namespace Kraft.Broker.Replication;

/// <summary>
/// One partition replica on this broker: its log plus the pure replication state of its current role
/// (leader or follower). It is the thin driver around <see cref="LeaderPartitionState"/> and
/// <see cref="FollowerPartitionState"/>: it owns the lock, the log, acks=all waiters and timers.
/// <para>Invariants: only a leader accepts produce; consumers never read at or above the high watermark;
/// the high watermark never passes the log end offset; every state change happens under the lock.</para>
/// <para>Thread-safety: all members may be called from any thread (request handlers, the fetcher thread).</para>
/// </summary>
public sealed class Partition : IDisposable
{
    private readonly Lock _lock = new();
    private readonly ReplicationConfig _config;
    private readonly TimeProvider _time;
    private readonly List<AckWaiter> _waiters = [];
    private readonly Action<Partition, AlterIsrRequest> _sendAlterIsr;
    private LeaderPartitionState? _leader;
    private FollowerPartitionState? _follower;
    private long _highWatermark;
    private long _checkpointedHighWatermark = -1;
    private long _lastCheckpointMs = long.MinValue / 2;
    private readonly ChangeSignal _changed;
    // Idempotent producers' state; null until first needed, and again after a truncation (rebuilt from the log).
    private ProducerStateTable? _producers;
    // The log end offset when this replica became leader of its current epoch (KIP-207); -1 when not leading.
    private long _leaderEpochStartOffset = -1;

    public Partition(string topic, int partitionIndex, int localBrokerId, SegmentedLog log, ReplicationConfig config, TimeProvider time, Action<Partition, AlterIsrRequest> sendAlterIsr, ChangeSignal? changed = null)
    {
        _changed = changed ?? new ChangeSignal();
        Topic = topic;
        PartitionIndex = partitionIndex;
        LocalBrokerId = localBrokerId;
        Log = log;
        _config = config;
        _time = time;
        _sendAlterIsr = sendAlterIsr;
        _highWatermark = log.ReadHighWatermarkCheckpoint();
    }

    public string Topic { get; }
    public int PartitionIndex { get; }
    public int LocalBrokerId { get; }
    public SegmentedLog Log { get; }

    public long HighWatermark { get { lock (_lock) { return _highWatermark; } } }
    public bool IsLeader { get { lock (_lock) { return _leader is not null; } } }
    public int LeaderEpoch { get { lock (_lock) { return _leader?.LeaderEpoch ?? _follower?.LeaderEpoch ?? -1; } } }
    public IReadOnlyList<int> Isr { get { lock (_lock) { return _leader?.Isr.ToArray() ?? []; } } }

    /// <summary>
    /// False on a new leader until its high watermark reaches the log end it had when it took over (KIP-207): the high
    /// watermark it inherited as a follower may lag what its predecessor had already acknowledged, so "latest offset"
    /// answers wait (OFFSET_NOT_AVAILABLE, retriable) rather than go back in time.
    /// </summary>
    public bool HighWatermarkEstablished { get { lock (_lock) { return _leader is not null && _highWatermark >= _leaderEpochStartOffset; } } }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Takes leadership for <paramref name="leaderEpoch"/> (from the metadata log). Waiters of an older term fail.</summary>
    public void BecomeLeader(int leaderEpoch, int partitionEpoch, IReadOnlyList<int> replicas, IReadOnlyList<int> isr)
    {
        lock (_lock)
        {
            if (_leader is not null && _leader.LeaderEpoch == leaderEpoch)
            {
                // Same term: the replica set (reassignment) or the ISR changed.
                int before = _leader.Isr.Count;
                _leader.OnReplicasChanged(replicas, NowMs);
                _leader.OnIsrCommitted(isr, partitionEpoch, NowMs);
                CountIsrChange(before, _leader.Isr.Count);
                AdvanceHighWatermark(_leader.HighWatermark);
                return;
            }
            FailWaiters(ReplicationError.NotLeaderOrFollower);
            _follower = null;
            _highWatermark = Math.Min(_highWatermark, Log.LogEndOffset);
            _leader = new LeaderPartitionState(LocalBrokerId, leaderEpoch, partitionEpoch, replicas, isr, Log.LogEndOffset, _highWatermark, NowMs, _config);
            _leaderEpochStartOffset = Log.LogEndOffset;
            // As Kafka's makeLeader: the high watermark may advance at once (a leader alone in its ISR commits its
            // whole log); without this an idle sole leader would answer OFFSET_NOT_AVAILABLE until the next append.
            Apply(_leader.OnIsrCommitted(isr, partitionEpoch, NowMs));
        }
    }

    /// <summary>Follows <paramref name="leaderId"/> in <paramref name="leaderEpoch"/>; fetching starts from the local log end.</summary>
    public void BecomeFollower(int leaderId, int leaderEpoch)
    {
        lock (_lock)
        {
            if (_follower is not null && _follower.LeaderEpoch == leaderEpoch && _follower.LeaderId == leaderId)
            {
                return;
            }
            FailWaiters(ReplicationError.NotLeaderOrFollower);
            _leader = null;
            _follower = new FollowerPartitionState(leaderId, leaderEpoch, Log.LogEndOffset, Log.EpochCache.LatestEpoch, _highWatermark);
        }
    }

    /// <summary>
    /// Produce on the leader. acks=0/1: answered after the local append. acks=all (-1): refused up front with
    /// NOT_ENOUGH_REPLICAS when the ISR is below min.insync.replicas, otherwise the task completes once the high
    /// watermark covers the batch, or with REQUEST_TIMED_OUT, or NOT_LEADER_OR_FOLLOWER if leadership is lost.
    /// </summary>
    public Task<ProduceOutcome> AppendAsLeaderAsync(Span<byte> records, short acks, int minInSyncReplicas, TimeSpan timeout, CancellationToken cancellationToken)
    {
        AckWaiter? waiter;
        LogAppendResult result;
        lock (_lock)
        {
            if (_leader is null)
            {
                return Task.FromResult(ProduceOutcome.Failed(ReplicationError.NotLeaderOrFollower));
            }
            if (acks == -1 && _leader.CheckAcksAllAppend(minInSyncReplicas) is var refusal && refusal != ReplicationError.None)
            {
                return Task.FromResult(ProduceOutcome.Failed(refusal));
            }
            var identity = records.Length >= RecordBatch.RecordsCountOffset ? BatchIdentity.Read(records) : default;
            // The table is built (from the log) only once an idempotent producer writes here: plain traffic never pays the scan.
            var producers = identity.IsIdempotent ? Producers() : _producers;
            bool duplicate = false;
            result = default;
            if (identity.IsIdempotent && IsSingleBatch(records))
            {
                var check = producers!.Check(identity);
                if (check.Kind == ProducerCheckKind.Refuse)
                {
                    return Task.FromResult(ProduceOutcome.Failed(check.Error));
                }
                if (check.Kind == ProducerCheckKind.Duplicate)
                {
                    // A retry of a batch already in the log: nothing is appended; the answer is the original one, given
                    // (for acks=all) once the original batch is committed, as Kafka does.
                    Observability.BrokerMetrics.DuplicateBatches.Add(1);
                    result = new LogAppendResult(AppendError.None, check.FirstOffset, check.LastOffset, 0, 0, -1);
                    duplicate = true;
                }
            }
            if (!duplicate)
            {
                result = Log.AppendAsLeader(records, _leader.LeaderEpoch);
                if (result.Error != AppendError.None)
                {
                    return Task.FromResult(new ProduceOutcome(ReplicationError.None, result.Error, -1));
                }
                if (producers is not null) RecordAppended(producers, records);
            }
            // Kafka marks MessagesInPerSec once the leader's log accepted the records, whatever acks then says.
            Observability.BrokerMetrics.RecordsIn.Add(result.RecordCount, new KeyValuePair<string, object?>("topic", Topic));
            Apply(_leader.OnLocalAppend(Log.LogEndOffset, NowMs));
            _changed.Notify();
            if (acks != -1)
            {
                return Task.FromResult(new ProduceOutcome(ReplicationError.None, AppendError.None, result.FirstOffset));
            }
            waiter = new AckWaiter(result.LastOffset + 1, result.FirstOffset, minInSyncReplicas);
            var (done, error) = _leader.CheckRequiredOffset(waiter.RequiredOffset, minInSyncReplicas);
            if (done)
            {
                return Task.FromResult(new ProduceOutcome(error, AppendError.None, result.FirstOffset));
            }
            _waiters.Add(waiter);
        }
        return WaitAsync(waiter, timeout, cancellationToken);
    }

    private async Task<ProduceOutcome> WaitAsync(AckWaiter waiter, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(timeout);
        using var registration = timer.Token.Register(() =>
        {
            lock (_lock)
            {
                _waiters.Remove(waiter);
            }
            waiter.Completion.TrySetResult(ProduceOutcome.Failed(ReplicationError.RequestTimedOut));
        });
        return await waiter.Completion.Task.ConfigureAwait(false);
    }

    /// <summary>A consumer's fetch: only records below the high watermark.</summary>
    public PartitionRead ReadForConsumer(long fetchOffset, int maxBytes, int currentLeaderEpoch)
    {
        lock (_lock)
        {
            if (_leader is null)
            {
                return PartitionRead.Failed(ReplicationError.NotLeaderOrFollower, _highWatermark);
            }
            var check = LeaderFetchCheck.Check(_leader.LeaderEpoch, currentLeaderEpoch, fetchOffset, -1, Log.LogStartOffset, Log.LogEndOffset, EndOffsetFor);
            if (check.Error != ReplicationError.None)
            {
                return PartitionRead.Failed(check.Error, _highWatermark);
            }
            var read = Log.Read(fetchOffset, maxBytes, maxOffsetExclusive: _highWatermark);
            return new PartitionRead(ReplicationError.None, read.Records, _highWatermark, Log.LogStartOffset, Log.LogEndOffset, null);
        }
    }

    /// <summary>
    /// A follower's fetch on the leader: fencing by leader epoch, divergence detection from its last fetched
    /// epoch, then records up to the log end and the high watermark. Its position feeds the high watermark and ISR.
    /// </summary>
    public PartitionRead HandleFollowerFetch(int replicaId, long fetchOffset, int lastFetchedEpoch, int currentLeaderEpoch, int maxBytes)
    {
        lock (_lock)
        {
            if (_leader is null)
            {
                return PartitionRead.Failed(ReplicationError.NotLeaderOrFollower, _highWatermark);
            }
            var check = LeaderFetchCheck.Check(_leader.LeaderEpoch, currentLeaderEpoch, fetchOffset, lastFetchedEpoch, Log.LogStartOffset, Log.LogEndOffset, EndOffsetFor);
            if (check.Error != ReplicationError.None || check.DivergingEpoch is not null)
            {
                return new PartitionRead(check.Error, ReadOnlyMemory<byte>.Empty, _highWatermark, Log.LogStartOffset, Log.LogEndOffset, check.DivergingEpoch);
            }
            Apply(_leader.OnFollowerFetch(replicaId, fetchOffset, NowMs));
            var read = Log.Read(fetchOffset, maxBytes);
            return new PartitionRead(ReplicationError.None, read.Records, _highWatermark, Log.LogStartOffset, Log.LogEndOffset, null);
        }
    }

    /// <summary>The follower's next fetch position, or null when this replica is not following.</summary>
    public FetchPosition? NextFetch()
    {
        lock (_lock)
        {
            return _follower?.NextFetch();
        }
    }

    /// <summary>Applies the leader's answer on a follower: append, truncate, restart, or back off (returned).</summary>
    public FollowerActionKind ApplyFetchResponse(PartitionRead answer)
    {
        lock (_lock)
        {
            if (_follower is null)
            {
                return FollowerActionKind.Backoff;
            }
            long recordsBase = answer.Records.Length > 0 ? RecordBatchFields.BaseOffset(answer.Records.Span) : -1;
            var action = _follower.OnFetchResponse(
                new FetchAnswer(answer.Error, answer.HighWatermark, answer.LogStartOffset, answer.LogEndOffset, answer.DivergingEpoch, recordsBase),
                EndOffsetFor);
            switch (action.Kind)
            {
                case FollowerActionKind.Append:
                    if (answer.Records.Length > 0)
                    {
                        var appended = Log.AppendAsFollower(answer.Records.Span);
                        if (appended.Error != AppendError.None)
                        {
                            throw new InvalidOperationException($"{Topic}-{PartitionIndex}: the leader sent records the follower cannot append: {appended.Error}");
                        }
                        if (_producers is not null) RecordAppended(_producers, answer.Records.Span);
                    }
                    _follower.OnAppended(Log.LogEndOffset, Log.EpochCache.LatestEpoch, action.Offset);
                    AdvanceHighWatermark(_follower.HighWatermark);
                    break;
                case FollowerActionKind.Truncate:
                    // Only after an unclean election can this cut below the high watermark: that is the data loss
                    // unclean election accepts, and the replica must follow its leader's log regardless.
                    Log.TruncateTo(action.Offset);
                    _producers = null;
                    _highWatermark = Math.Min(_highWatermark, Log.LogEndOffset);
                    _follower.OnTruncated(Log.LogEndOffset, Log.EpochCache.LatestEpoch);
                    break;
                case FollowerActionKind.RestartAt:
                    Log.TruncateFullyAndStartAt(action.Offset);
                    _producers = null;
                    _highWatermark = action.Offset;
                    _follower.OnTruncated(Log.LogEndOffset, -1);
                    break;
            }
            return action.Kind;
        }
    }

    /// <summary>The controller committed a new ISR / partition epoch for this partition.</summary>
    public void OnIsrCommitted(IReadOnlyList<int> isr, int partitionEpoch)
    {
        lock (_lock)
        {
            if (_leader is not null)
            {
                Apply(_leader.OnIsrCommitted(isr, partitionEpoch, NowMs));
            }
        }
    }

    public void OnIsrChangeRefused()
    {
        lock (_lock)
        {
            _leader?.OnIsrChangeRefused();
        }
    }

    /// <summary>
    /// Periodic work: ISR shrink checks and, every replica.high.watermark.checkpoint.interval.ms, checkpointing the high
    /// watermark. The checkpoint file is written outside the partition's lock (and the log's): writing it atomically
    /// costs a file creation, two fsyncs and a rename, 5-15 ms on the development VM, and holding the lock meanwhile
    /// stalled every produce and fetch of the partition (with acks=all, of every partition whose ISR includes this
    /// broker). A checkpoint that lags is harmless: it is only a lower bound read at start, and the high watermark
    /// then catches up from the leader. Called from one thread only (never concurrently with itself or Dispose).
    /// </summary>
    public void Tick()
    {
        long? checkpoint = null;
        lock (_lock)
        {
            if (_leader is not null)
            {
                Apply(_leader.OnTick(NowMs));
            }
            if (_checkpointedHighWatermark != _highWatermark && NowMs - _lastCheckpointMs >= _config.HighWatermarkCheckpointIntervalMs)
            {
                checkpoint = _highWatermark;
                _checkpointedHighWatermark = _highWatermark;
                _lastCheckpointMs = NowMs;
            }
        }
        if (checkpoint is { } highWatermark)
        {
            Log.CheckpointHighWatermark(highWatermark);
        }
    }

    /// <summary>The producer state, rebuilt from the batch headers of the whole log when missing (caller holds the lock).</summary>
    private ProducerStateTable Producers()
    {
        if (_producers is not null)
        {
            return _producers;
        }
        var table = new ProducerStateTable();
        table.Rebuild(StoredBatches());
        _producers = table;
        return table;
    }

    private IEnumerable<ReadOnlyMemory<byte>> StoredBatches()
    {
        long offset = Log.LogStartOffset;
        while (offset < Log.LogEndOffset)
        {
            var read = Log.Read(offset, 1 << 20);
            if (read.Error != LogReadError.None || read.Records.Length == 0)
            {
                yield break;
            }
            var memory = read.Records.AsMemory();
            long next = offset;
            for (int position = 0; position + RecordBatch.RecordsCountOffset <= memory.Length;)
            {
                int size = RecordBatch.BatchLengthOffset + 4 + BinaryPrimitives.ReadInt32BigEndian(memory.Span[(position + RecordBatch.BatchLengthOffset)..]);
                if (size <= 0 || position + size > memory.Length) break;
                var batch = memory.Slice(position, size);
                next = RecordBatchFields.BaseOffset(batch.Span) + BinaryPrimitives.ReadInt32BigEndian(batch.Span[RecordBatch.LastOffsetDeltaOffset..]) + 1;
                yield return batch;
                position += size;
            }
            if (next <= offset)
            {
                yield break; // no progress: never loop forever on an odd read
            }
            offset = next;
        }
    }

    /// <summary>Feeds every batch of <paramref name="records"/> (offsets already assigned) to the producer state.</summary>
    private static void RecordAppended(ProducerStateTable producers, ReadOnlySpan<byte> records)
    {
        for (int position = 0; position + RecordBatch.RecordsCountOffset <= records.Length;)
        {
            var rest = records[position..];
            int size = RecordBatch.BatchLengthOffset + 4 + BinaryPrimitives.ReadInt32BigEndian(rest[RecordBatch.BatchLengthOffset..]);
            if (size <= 0 || size > rest.Length) break;
            var batch = rest[..size];
            long first = RecordBatchFields.BaseOffset(batch);
            producers.OnAppended(BatchIdentity.Read(batch), first, first + BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatch.LastOffsetDeltaOffset..]));
            position += size;
        }
    }

    /// <summary>True when <paramref name="records"/> holds exactly one batch (what Kafka requires of produce v3+).</summary>
    private static bool IsSingleBatch(ReadOnlySpan<byte> records) =>
        records.Length >= RecordBatch.RecordsCountOffset
        && RecordBatch.BatchLengthOffset + 4 + BinaryPrimitives.ReadInt32BigEndian(records[RecordBatch.BatchLengthOffset..]) == records.Length;

    private static void CountIsrChange(int before, int after)
    {
        if (after < before) Observability.BrokerMetrics.IsrShrinks.Add(1);
        else if (after > before) Observability.BrokerMetrics.IsrExpands.Add(1);
    }

    private (int, long) EndOffsetFor(int epoch) => Log.EpochCache.EndOffsetFor(epoch, Log.LogEndOffset);

    private void Apply(LeaderUpdate update)
    {
        if (update.NewHighWatermark is { } hw)
        {
            AdvanceHighWatermark(hw);
        }
        if (update.AlterIsr is { } alter)
        {
            _sendAlterIsr(this, alter);
        }
        CompleteWaiters();
    }

    private void AdvanceHighWatermark(long hw)
    {
        if (hw > _highWatermark)
        {
            _highWatermark = Math.Min(hw, Log.LogEndOffset);
            _changed.Notify();
        }
    }

    private void CompleteWaiters()
    {
        if (_leader is null || _waiters.Count == 0)
        {
            return;
        }
        for (int i = _waiters.Count - 1; i >= 0; i--)
        {
            var waiter = _waiters[i];
            var (done, error) = _leader.CheckRequiredOffset(waiter.RequiredOffset, waiter.MinInSyncReplicas);
            if (done)
            {
                _waiters.RemoveAt(i);
                waiter.Completion.TrySetResult(new ProduceOutcome(error, AppendError.None, waiter.BaseOffset));
            }
        }
    }

    private void FailWaiters(ReplicationError error)
    {
        foreach (var waiter in _waiters)
        {
            waiter.Completion.TrySetResult(ProduceOutcome.Failed(error));
        }
        _waiters.Clear();
    }

    public void Dispose()
    {
        long? checkpoint = null;
        lock (_lock)
        {
            FailWaiters(ReplicationError.NotLeaderOrFollower);
            if (_checkpointedHighWatermark != _highWatermark) checkpoint = _highWatermark;
            _checkpointedHighWatermark = _highWatermark;
        }
        // A clean close leaves the latest high watermark, so that a restart does not start lower than it ended.
        if (checkpoint is { } highWatermark) Log.CheckpointHighWatermark(highWatermark);
        Log.Dispose();
    }

    private sealed class AckWaiter(long requiredOffset, long baseOffset, int minInSyncReplicas)
    {
        public long RequiredOffset { get; } = requiredOffset;
        public long BaseOffset { get; } = baseOffset;
        public int MinInSyncReplicas { get; } = minInSyncReplicas;
        public TaskCompletionSource<ProduceOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>The answer to a produce for one partition: a replication error, a storage refusal, or the base offset.</summary>
public readonly record struct ProduceOutcome(ReplicationError Error, AppendError AppendError, long BaseOffset)
{
    public static ProduceOutcome Failed(ReplicationError error) => new(error, AppendError.None, -1);
}

/// <summary>What a fetch of one partition returns: records (whole batches, as stored) and the leader's view.</summary>
public sealed record PartitionRead(ReplicationError Error, ReadOnlyMemory<byte> Records, long HighWatermark, long LogStartOffset, long LogEndOffset, (int Epoch, long EndOffset)? DivergingEpoch)
{
    public static PartitionRead Failed(ReplicationError error, long hw) => new(error, ReadOnlyMemory<byte>.Empty, hw, -1, -1, null);
}
