using Kraft.Broker.Cluster;
using Kraft.Broker.Replication;
using Kraft.Storage.Log;
using Kraft.Storage.Records;
using Microsoft.Extensions.Logging;
using CreateTopicsRequest = Kraft.Protocol.Messages.CreateTopicsRequest;
using CreateTopicsResponse = Kraft.Protocol.Messages.CreateTopicsResponse;

namespace Kraft.Broker.Groups.Coordinator;

/// <summary>Settings of the broker's group coordinator (Kafka's names in the comments).</summary>
public sealed record GroupCoordinatorConfig
{
    /// <summary>offsets.topic.num.partitions: partitions of __consumer_offsets when this broker creates it.</summary>
    public int OffsetsTopicNumPartitions { get; init; } = 50;

    /// <summary>offsets.topic.replication.factor: wanted replicas; lowered to the live broker count (with a warning).</summary>
    public short OffsetsTopicReplicationFactor { get; init; } = 3;

    /// <summary>offsets.commit.timeout.ms: how long an offset commit waits for acks=all before failing.</summary>
    public int OffsetsCommitTimeoutMs { get; init; } = 5_000;

    /// <summary>How long a broker that asked for __consumer_offsets waits to see it in its own metadata.</summary>
    public int TopicPropagationWaitMs { get; init; } = 3_000;

    /// <summary>How often the coordinator fires timeouts and follows leadership of the offsets partitions.</summary>
    public int TickIntervalMs { get; init; } = 100;

    public GroupConfig Groups { get; init; } = GroupConfig.Default;
}

/// <summary>
/// The broker side of the classic group coordinator: one <see cref="GroupCoordinatorState"/> (a "shard") per
/// __consumer_offsets partition this broker leads, loaded from that partition's log when leadership arrives and
/// unloaded when it leaves. It turns the pure state machine's outputs into effects: records become one batch
/// appended with acks=all, completions wake the network requests waiting on them, and an offset commit becomes
/// visible (<see cref="GroupCoordinatorState.CompleteOffsetCommit"/>) only once the high watermark covers it.
/// <para>Invariants: every call into a shard's state holds that shard's gate (one at a time, in arrival order); a
/// shard's appends are issued under its gate, so the log order is the call order, and their outcomes are
/// processed in that same order (a chain of continuations), so a later commit never loses to an earlier one; a
/// shard belongs to exactly one leader epoch of its partition; a new epoch means unload and load again, because
/// the log may have been truncated while another broker led.</para>
/// <para>Threads: request handlers call from the thread pool; one background loop (<see cref="Start"/>) follows
/// leadership and drives <see cref="GroupCoordinatorState.Tick"/>.</para>
/// </summary>
public sealed partial class GroupCoordinatorService : IAsyncDisposable
{
    public const string OffsetsTopic = "__consumer_offsets";

    private readonly int _brokerId;
    private readonly GroupCoordinatorConfig _config;
    private readonly Func<ClusterView> _view;
    private readonly ReplicaManager _replicas;
    private readonly Func<string, int> _minInSyncReplicasFor;
    private readonly Func<CreateTopicsRequest, CancellationToken, Task<CreateTopicsResponse>> _createTopics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _shardsLock = new();
    private readonly Lock _createLock = new();
    private Dictionary<int, Shard> _shards = [];
    private Task? _creation;
    private Task? _loop;
    private long _nextToken;

    public GroupCoordinatorService(
        int brokerId,
        GroupCoordinatorConfig config,
        Func<ClusterView> view,
        ReplicaManager replicas,
        Func<string, int> minInSyncReplicasFor,
        Func<CreateTopicsRequest, CancellationToken, Task<CreateTopicsResponse>> createTopics,
        TimeProvider time,
        ILogger logger)
    {
        _brokerId = brokerId;
        _config = config;
        _view = view;
        _replicas = replicas;
        _minInSyncReplicasFor = minInSyncReplicasFor;
        _createTopics = createTopics;
        _time = time;
        _logger = logger;
    }

    public int BrokerId => _brokerId;

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Starts the loop that follows leadership of the offsets partitions and fires timeouts.</summary>
    public void Start() => _loop ??= Task.Run(() => RunAsync(_stopping.Token));

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(_config.TickIntervalMs), _time, cancellationToken).ConfigureAwait(false);
                await ReconcileAsync().ConfigureAwait(false);
                await TickAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogLoopFailed(e);
            }
        }
    }

    // ------------------------------------------------------------------ Leadership

    /// <summary>
    /// Makes the shards match the local replicas of __consumer_offsets: load a shard for each partition led here
    /// (in its current leader epoch), unload shards of partitions no longer led here or led in another epoch.
    /// </summary>
    public async Task ReconcileAsync()
    {
        var led = new Dictionary<int, (Partition Replica, int Epoch)>();
        foreach (var partition in _replicas.Partitions)
        {
            if (partition.Topic == OffsetsTopic && partition.IsLeader)
            {
                led[partition.PartitionIndex] = (partition, partition.LeaderEpoch);
            }
        }
        List<Shard> stale;
        lock (_shardsLock)
        {
            stale = _shards.Values.Where(s => !led.TryGetValue(s.PartitionIndex, out var l) || l.Epoch != s.LeaderEpoch || !ReferenceEquals(l.Replica, s.Replica)).ToList();
            if (stale.Count == 0 && led.Keys.All(_shards.ContainsKey))
            {
                return;
            }
            var next = new Dictionary<int, Shard>(_shards);
            foreach (var shard in stale)
            {
                next.Remove(shard.PartitionIndex);
            }
            foreach (var (index, (replica, epoch)) in led)
            {
                if (!next.ContainsKey(index))
                {
                    var shard = new Shard(index, epoch, replica);
                    next[index] = shard;
                    shard.Loading = Task.Run(() => LoadAsync(shard, _stopping.Token));
                }
            }
            Volatile.Write(ref _shards, next);
        }
        foreach (var shard in stale)
        {
            await UnloadAsync(shard).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads the partition from its start to the log end offset seen at leadership, once the high watermark covers
    /// it (records a new leader holds above its high watermark become committed as its followers catch up, and
    /// must be part of the state before anything is appended after them), then replays them.
    /// </summary>
    private async Task LoadAsync(Shard shard, CancellationToken cancellationToken)
    {
        long started = NowMs;
        try
        {
            long target = shard.Replica.Log.LogEndOffset;
            while (shard.Replica.HighWatermark < target)
            {
                if (shard.Unloaded || !shard.Replica.IsLeader)
                {
                    return;
                }
                await Task.Delay(TimeSpan.FromMilliseconds(20), _time, cancellationToken).ConfigureAwait(false);
            }
            var records = ReadRecords(shard.Replica.Log, target);
            var state = GroupCoordinatorState.LoadEncoded(records, _config.Groups, NowMs);
            await shard.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (!shard.Unloaded)
                {
                    shard.State = state;
                }
            }
            finally
            {
                shard.Gate.Release();
            }
            LogLoaded(OffsetsTopic, shard.PartitionIndex, shard.LeaderEpoch, records.Count, state.GroupIds.Count(), NowMs - started);
            _recordsReadOnLoad[shard.PartitionIndex] = records.Count;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A shard that cannot load stays "loading" (clients retry) until leadership moves; the log says why.
            LogLoadFailed(e, OffsetsTopic, shard.PartitionIndex);
        }
    }

    /// <summary>Every record (key, value) of the log below <paramref name="endOffset"/>, in log order; control batches skipped.</summary>
    internal static List<(byte[] Key, byte[]? Value)> ReadRecords(SegmentedLog log, long endOffset)
    {
        var records = new List<(byte[], byte[]?)>();
        long offset = log.LogStartOffset;
        while (offset < endOffset)
        {
            var read = log.Read(offset, 1 << 20, maxOffsetExclusive: endOffset);
            if (read.Error != LogReadError.None || read.Records.Length == 0)
            {
                break;
            }
            var walker = new BatchWalker(read.Records);
            long next = offset;
            while (walker.TryNext(out var header, out int at, out _))
            {
                next = header.NextOffset;
                if (header.IsControl)
                {
                    continue;
                }
                if (header.Compression != CompressionType.None)
                {
                    throw new InvalidDataException($"{OffsetsTopic}: compressed batch at offset {header.BaseOffset}; the coordinator writes uncompressed batches only");
                }
                var reader = new RecordReader(read.Records.AsSpan(at + RecordBatch.HeaderSize, header.SizeInBytes - RecordBatch.HeaderSize));
                while (reader.TryReadNext(out var record, out _))
                {
                    if (header.BaseOffset + record.OffsetDelta < offset || record.KeyIsNull)
                    {
                        continue;
                    }
                    records.Add((record.Key.ToArray(), record.ValueIsNull ? null : record.Value.ToArray()));
                }
            }
            if (next <= offset)
            {
                break;
            }
            offset = next;
        }
        return records;
    }

    private async Task UnloadAsync(Shard shard)
    {
        await shard.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            shard.Unloaded = true;
            if (shard.State is { } state)
            {
                Deliver(shard, state.Unload());
                shard.State = null;
            }
            // Anything still registered has lost its coordinator: answer it rather than leave it hanging.
            foreach (var waiter in shard.Joins.Values) waiter.TrySetResult(JoinGroupResponse.Error(GroupErrorCode.NOT_COORDINATOR));
            foreach (var waiter in shard.Syncs.Values) waiter.TrySetResult(SyncGroupResponse.Error(GroupErrorCode.NOT_COORDINATOR));
            foreach (var (waiter, partitions) in shard.Commits.Values) waiter.TrySetResult(AllFailed(partitions, GroupErrorCode.NOT_COORDINATOR));
            shard.Joins.Clear();
            shard.Syncs.Clear();
            shard.Commits.Clear();
        }
        finally
        {
            shard.Gate.Release();
        }
        LogUnloaded(OffsetsTopic, shard.PartitionIndex, shard.LeaderEpoch);
    }

    // ------------------------------------------------------------------ Time

    /// <summary>Fires the timeouts of every loaded shard whose next deadline has come.</summary>
    public async Task TickAsync()
    {
        foreach (var shard in Volatile.Read(ref _shards).Values)
        {
            await shard.Gate.WaitAsync().ConfigureAwait(false);
            try
            {
                if (shard.State is { } state && !shard.Unloaded && state.NextDeadlineMs <= NowMs)
                {
                    Deliver(shard, state.Tick(NowMs));
                }
            }
            finally
            {
                shard.Gate.Release();
            }
        }
    }

    // ------------------------------------------------------------------ FindCoordinator

    /// <summary>The coordinator of a group: the leader of its offsets partition, creating the topic on first use.</summary>
    public async Task<CoordinatorLookup> FindCoordinatorAsync(string groupId, CancellationToken cancellationToken)
    {
        var view = _view();
        if (!view.Topics.ContainsKey(OffsetsTopic))
        {
            try
            {
                await EnsureOffsetsTopicAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
            view = _view();
        }
        if (!view.Topics.TryGetValue(OffsetsTopic, out var topic) || topic.Partitions.Count == 0)
        {
            return CoordinatorLookup.Unavailable;
        }
        int index = GroupPartitioner.PartitionFor(groupId, topic.Partitions.Count);
        var info = topic.Partitions.FirstOrDefault(p => p.Partition == index);
        if (info is null || info.Leader < 0 || !view.Brokers.TryGetValue(info.Leader, out var broker) || broker.Fenced)
        {
            return CoordinatorLookup.Unavailable;
        }
        return new CoordinatorLookup(GroupErrorCode.NONE, broker.Id, broker.Host, broker.Port);
    }

    /// <summary>One creation attempt at a time; a failed attempt is forgotten so the next lookup tries again.</summary>
    private Task EnsureOffsetsTopicAsync(CancellationToken cancellationToken)
    {
        lock (_createLock)
        {
            if (_creation is null || _creation.IsCompleted)
            {
                _creation = CreateOffsetsTopicAsync(_stopping.Token);
            }
            return _creation.WaitAsync(cancellationToken);
        }
    }

    private async Task CreateOffsetsTopicAsync(CancellationToken cancellationToken)
    {
        var view = _view();
        int live = view.Brokers.Values.Count(b => !b.Fenced);
        short replicationFactor = (short)Math.Max(1, Math.Min(_config.OffsetsTopicReplicationFactor, live));
        if (replicationFactor < _config.OffsetsTopicReplicationFactor)
        {
            LogReplicationLowered(OffsetsTopic, _config.OffsetsTopicReplicationFactor, live, replicationFactor);
        }
        try
        {
            var response = await _createTopics(new CreateTopicsRequest
            {
                timeoutMs = 30_000,
                Topics =
                [
                    new CreateTopicsRequest.CreatableTopic
                    {
                        Name = OffsetsTopic,
                        NumPartitions = _config.OffsetsTopicNumPartitions,
                        ReplicationFactor = replicationFactor,
                        // As Kafka: the log cleaner keeps the latest record per key (offset commits, group metadata).
                        Configs = [new CreateTopicsRequest.CreatableTopicConfig { Name = "cleanup.policy", Value = "compact" }],
                    },
                ],
            }, cancellationToken).ConfigureAwait(false);
            var result = response.Topics.FirstOrDefault();
            LogOffsetsTopicCreated(OffsetsTopic, _config.OffsetsTopicNumPartitions, replicationFactor, result?.ErrorCode ?? -1);
            // The creation commits through the metadata log; wait (bounded) for this broker to see it.
            var deadline = NowMs + _config.TopicPropagationWaitMs;
            while (!_view().Topics.ContainsKey(OffsetsTopic) && NowMs < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), _time, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException and not OperationCanceledException)
        {
            LogCreateFailed(e, OffsetsTopic);
        }
    }

    // ------------------------------------------------------------------ Requests

    /// <summary>The shard owning <paramref name="groupId"/>, or the error a client gets instead.</summary>
    private (Shard? Shard, GroupErrorCode Error) Route(string groupId)
    {
        var view = _view();
        if (!view.Topics.TryGetValue(OffsetsTopic, out var topic) || topic.Partitions.Count == 0)
        {
            return (null, GroupErrorCode.NOT_COORDINATOR);
        }
        int index = GroupPartitioner.PartitionFor(groupId, topic.Partitions.Count);
        if (!Volatile.Read(ref _shards).TryGetValue(index, out var shard) || shard.Unloaded)
        {
            var replica = _replicas.Get(OffsetsTopic, index);
            // Led here but not yet picked up by the loop: the shard is about to load.
            return (null, replica is not null && replica.IsLeader ? GroupErrorCode.COORDINATOR_LOAD_IN_PROGRESS : GroupErrorCode.NOT_COORDINATOR);
        }
        return shard.State is null ? (null, GroupErrorCode.COORDINATOR_LOAD_IN_PROGRESS) : (shard, GroupErrorCode.NONE);
    }

    /// <summary>
    /// Runs <paramref name="call"/> on the group's shard under its gate, or returns <paramref name="refusal"/>'s answer
    /// when this broker cannot serve the group (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS).
    /// </summary>
    private async Task<T> OnShardAsync<T>(string groupId, Func<GroupErrorCode, T> refusal, Func<Shard, GroupCoordinatorState, T> call, CancellationToken cancellationToken)
    {
        var (shard, error) = Route(groupId);
        if (shard is null)
        {
            return refusal(error);
        }
        await shard.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (shard.Unloaded || shard.State is not { } state)
            {
                return refusal(shard.Unloaded ? GroupErrorCode.NOT_COORDINATOR : GroupErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
            }
            return call(shard, state);
        }
        finally
        {
            shard.Gate.Release();
        }
    }

    public async Task<JoinGroupResponse> JoinGroupAsync(JoinGroupRequest request, CancellationToken cancellationToken)
    {
        long token = Interlocked.Increment(ref _nextToken);
        var waiter = NewWaiter<JoinGroupResponse>();
        var immediate = await OnShardAsync(request.GroupId, e => JoinGroupResponse.Error(e, request.MemberId), (shard, state) =>
        {
            // Registered before the call: the call's own output may already complete this token.
            shard.Joins[token] = waiter;
            var result = state.Join(request, token, NowMs);
            if (!result.IsPending)
            {
                shard.Joins.Remove(token);
                waiter.TrySetResult(result.Response);
            }
            Deliver(shard, result.Output);
            return (JoinGroupResponse?)null;
        }, cancellationToken).ConfigureAwait(false);
        return immediate ?? await waiter.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<SyncGroupResponse> SyncGroupAsync(SyncGroupRequest request, CancellationToken cancellationToken)
    {
        long token = Interlocked.Increment(ref _nextToken);
        var waiter = NewWaiter<SyncGroupResponse>();
        var immediate = await OnShardAsync(request.GroupId, SyncGroupResponse.Error, (shard, state) =>
        {
            shard.Syncs[token] = waiter;
            var result = state.Sync(request, token, NowMs);
            if (!result.IsPending)
            {
                shard.Syncs.Remove(token);
                waiter.TrySetResult(result.Response);
            }
            Deliver(shard, result.Output);
            return (SyncGroupResponse?)null;
        }, cancellationToken).ConfigureAwait(false);
        return immediate ?? await waiter.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task<GroupErrorCode> HeartbeatAsync(HeartbeatRequest request, CancellationToken cancellationToken) =>
        OnShardAsync(request.GroupId, e => e, (shard, state) =>
        {
            var result = state.Heartbeat(request, NowMs);
            Deliver(shard, result.Output);
            return result.Response;
        }, cancellationToken);

    public Task<LeaveGroupResponse> LeaveGroupAsync(LeaveGroupRequest request, CancellationToken cancellationToken) =>
        OnShardAsync(request.GroupId, e => new LeaveGroupResponse(e, []), (shard, state) =>
        {
            var result = state.Leave(request, NowMs);
            Deliver(shard, result.Output);
            return result.Response;
        }, cancellationToken);

    /// <summary>OffsetCommit: answered once the commit's records are replicated (acks=all) or have failed.</summary>
    public async Task<OffsetCommitResponse> CommitOffsetsAsync(OffsetCommitRequest request, CancellationToken cancellationToken)
    {
        long token = Interlocked.Increment(ref _nextToken);
        var waiter = NewWaiter<OffsetCommitResponse>();
        var immediate = await OnShardAsync(request.GroupId, e => AllFailed(request.Partitions.Select(p => new TopicPartition(p.Topic, p.Partition)).ToList(), e), (shard, state) =>
        {
            shard.Commits[token] = (waiter, request.Partitions.Select(p => new TopicPartition(p.Topic, p.Partition)).ToList());
            var result = state.CommitOffsets(request, token, NowMs);
            if (!result.IsPending)
            {
                shard.Commits.Remove(token);
                waiter.TrySetResult(result.Response);
                Deliver(shard, result.Output);
            }
            else
            {
                Deliver(shard, result.Output, commitToken: token);
            }
            return (OffsetCommitResponse?)null;
        }, cancellationToken).ConfigureAwait(false);
        return immediate ?? await waiter.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task<OffsetFetchResponse> FetchOffsetsAsync(OffsetFetchRequest request, CancellationToken cancellationToken) =>
        OnShardAsync(request.GroupId, e => new OffsetFetchResponse(e, []), (_, state) => state.FetchOffsets(request), cancellationToken);

    public Task<DescribedGroup> DescribeGroupAsync(string groupId, CancellationToken cancellationToken) =>
        OnShardAsync(groupId, e => new DescribedGroup(e, groupId, "", "", "", []), (_, state) => state.DescribeGroups([groupId])[0], cancellationToken);

    /// <summary>The groups of every shard on this broker; COORDINATOR_LOAD_IN_PROGRESS while any shard is loading.</summary>
    public async Task<(GroupErrorCode Error, IReadOnlyList<ListedGroup> Groups)> ListGroupsAsync(IReadOnlyCollection<string>? statesFilter, CancellationToken cancellationToken)
    {
        var groups = new List<ListedGroup>();
        var error = GroupErrorCode.NONE;
        foreach (var shard in Volatile.Read(ref _shards).Values)
        {
            await shard.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (shard.Unloaded)
                {
                    continue;
                }
                if (shard.State is null)
                {
                    error = GroupErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
                    continue;
                }
                groups.AddRange(shard.State.ListGroups(statesFilter));
            }
            finally
            {
                shard.Gate.Release();
            }
        }
        return (error, groups);
    }

    /// <summary>
    /// The committed offsets of every group this broker coordinates (loaded shards only; a shard still loading or
    /// being unloaded is skipped, since its groups are not served here yet). For the consumer-lag gauge.
    /// </summary>
    public async Task<List<CommittedOffset>> CommittedOffsetsAsync(CancellationToken cancellationToken)
    {
        var offsets = new List<CommittedOffset>();
        foreach (var shard in Volatile.Read(ref _shards).Values)
        {
            await shard.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (!shard.Unloaded && shard.State is { } state)
                {
                    offsets.AddRange(state.CommittedOffsets());
                }
            }
            finally
            {
                shard.Gate.Release();
            }
        }
        return offsets;
    }

    // ------------------------------------------------------------------ Effects

    private static TaskCompletionSource<T> NewWaiter<T>() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static OffsetCommitResponse AllFailed(IReadOnlyList<TopicPartition> partitions, GroupErrorCode error) =>
        new(partitions.Select(p => new OffsetCommitPartitionResponse(p.Topic, p.Partition, error)).ToList());

    /// <summary>
    /// Carries out one output of the state machine (caller holds the shard's gate): wakes the requests it completes
    /// and appends its records as one batch. <paramref name="commitToken"/> names the offset commit whose records
    /// these are; its fate is reported back to the state machine when the append is acknowledged or fails.
    /// </summary>
    private void Deliver(Shard shard, GroupOutput output, long? commitToken = null)
    {
        foreach (var c in output.JoinCompletions)
        {
            if (shard.Joins.Remove(c.RequestToken, out var waiter)) waiter.TrySetResult(c.Response);
        }
        foreach (var c in output.SyncCompletions)
        {
            if (shard.Syncs.Remove(c.RequestToken, out var waiter)) waiter.TrySetResult(c.Response);
        }
        foreach (var c in output.OffsetCommitCompletions)
        {
            if (shard.Commits.Remove(c.RequestToken, out var waiter)) waiter.Waiter.TrySetResult(c.Response);
        }
        if (output.Records.Count == 0)
        {
            if (commitToken is long orphan)
            {
                // A pending commit always writes records; treat the impossible case as a failed append.
                Deliver(shard, shard.State!.CompleteOffsetCommit(orphan, GroupErrorCode.UNKNOWN_SERVER_ERROR, NowMs));
            }
            return;
        }
        long nowMs = NowMs;
        var builder = new RecordBatchBuilder();
        foreach (var record in output.Records)
        {
            var (key, value) = GroupRecordCodec.Encode(record);
            builder.Add(key, value, nowMs);
        }
        byte[] batch = builder.Build(nowMs);
        var append = shard.Replica.AppendAsLeaderAsync(batch, -1, _minInSyncReplicasFor(OffsetsTopic),
            TimeSpan.FromMilliseconds(_config.OffsetsCommitTimeoutMs), CancellationToken.None);
        shard.AppendChain = CompleteInOrderAsync(shard, shard.AppendChain, append, commitToken, output.Records.Count);
    }

    /// <summary>Reports an append's outcome after every earlier append of the shard has been reported (log order).</summary>
    private async Task CompleteInOrderAsync(Shard shard, Task previous, Task<ProduceOutcome> append, long? commitToken, int recordCount)
    {
        await previous.ConfigureAwait(false);
        GroupErrorCode error;
        try
        {
            var outcome = await append.ConfigureAwait(false);
            error = AppendErrorToGroupError(outcome);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogAppendFailed(e, OffsetsTopic, shard.PartitionIndex);
            error = GroupErrorCode.UNKNOWN_SERVER_ERROR;
        }
        if (error != GroupErrorCode.NONE)
        {
            LogAppendRefused(OffsetsTopic, shard.PartitionIndex, recordCount, error);
        }
        if (commitToken is not long token)
        {
            return;
        }
        await shard.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!shard.Unloaded && shard.State is { } state)
            {
                Deliver(shard, state.CompleteOffsetCommit(token, error, NowMs));
            }
        }
        finally
        {
            shard.Gate.Release();
        }
    }

    /// <summary>Kafka's mapping of an offsets-topic append error to what a group client is told (GroupMetadataManager).</summary>
    internal static GroupErrorCode AppendErrorToGroupError(ProduceOutcome outcome)
    {
        if (outcome.AppendError != AppendError.None)
        {
            return GroupErrorCode.UNKNOWN_SERVER_ERROR;
        }
        return outcome.Error switch
        {
            ReplicationError.None => GroupErrorCode.NONE,
            ReplicationError.NotLeaderOrFollower or ReplicationError.FencedLeaderEpoch => GroupErrorCode.NOT_COORDINATOR,
            ReplicationError.NotEnoughReplicas or ReplicationError.NotEnoughReplicasAfterAppend or ReplicationError.RequestTimedOut => GroupErrorCode.COORDINATOR_NOT_AVAILABLE,
            _ => GroupErrorCode.UNKNOWN_SERVER_ERROR,
        };
    }

    /// <summary>Waits for every append issued so far to be reported (tests and shutdown).</summary>
    internal async Task DrainAsync()
    {
        foreach (var shard in Volatile.Read(ref _shards).Values)
        {
            await shard.Gate.WaitAsync().ConfigureAwait(false);
            Task chain;
            try
            {
                chain = shard.AppendChain;
            }
            finally
            {
                shard.Gate.Release();
            }
            await chain.ConfigureAwait(false);
        }
    }

    /// <summary>Completes when the current shard of <paramref name="partition"/> has finished loading (or has none).</summary>
    internal Task WhenLoadedAsync(int partition) =>
        Volatile.Read(ref _shards).TryGetValue(partition, out var s) ? s.Loading : Task.CompletedTask;

    /// <summary>Whether the shard of <paramref name="partition"/> is loaded (tests, health).</summary>
    /// <summary>How many records the last load of an offsets partition replayed (compaction makes this shrink).</summary>
    public int? RecordsReadOnLastLoad(int partition) => _recordsReadOnLoad.TryGetValue(partition, out int n) ? n : null;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, int> _recordsReadOnLoad = new();

    public bool IsLoaded(int partition) => Volatile.Read(ref _shards).TryGetValue(partition, out var s) && s.State is not null && !s.Unloaded;

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try { await _loop.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
        foreach (var shard in Volatile.Read(ref _shards).Values)
        {
            await UnloadAsync(shard).ConfigureAwait(false);
        }
        _stopping.Dispose();
    }

    /// <summary>One offsets partition led here in one leader epoch. Everything but the immutable fields is guarded by <see cref="Gate"/>.</summary>
    private sealed class Shard(int partitionIndex, int leaderEpoch, Partition replica)
    {
        public int PartitionIndex { get; } = partitionIndex;
        public int LeaderEpoch { get; } = leaderEpoch;
        public Partition Replica { get; } = replica;
        public SemaphoreSlim Gate { get; } = new(1, 1);
        public GroupCoordinatorState? State { get; set; }
        public volatile bool Unloaded;
        public Task Loading { get; set; } = Task.CompletedTask;
        public Task AppendChain { get; set; } = Task.CompletedTask;
        public Dictionary<long, TaskCompletionSource<JoinGroupResponse>> Joins { get; } = [];
        public Dictionary<long, TaskCompletionSource<SyncGroupResponse>> Syncs { get; } = [];
        public Dictionary<long, (TaskCompletionSource<OffsetCommitResponse> Waiter, IReadOnlyList<TopicPartition> Partitions)> Commits { get; } = [];
    }

    [LoggerMessage(EventId = 1100, Level = LogLevel.Information, Message = "Loaded {Topic}-{Partition} (leader epoch {Epoch}): {Records} records, {Groups} groups in {ElapsedMs} ms")]
    private partial void LogLoaded(string topic, int partition, int epoch, int records, int groups, long elapsedMs);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Error, Message = "Loading {Topic}-{Partition} failed")]
    private partial void LogLoadFailed(Exception exception, string topic, int partition);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Information, Message = "Unloaded {Topic}-{Partition} (leader epoch {Epoch})")]
    private partial void LogUnloaded(string topic, int partition, int epoch);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "{Topic}: offsets.topic.replication.factor {Wanted} is larger than the {Live} live brokers; creating it with replication factor {Used}")]
    private partial void LogReplicationLowered(string topic, int wanted, int live, short used);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Information, Message = "Asked the controller to create {Topic} with {Partitions} partitions, replication factor {ReplicationFactor}: error code {ErrorCode}")]
    private partial void LogOffsetsTopicCreated(string topic, int partitions, short replicationFactor, short errorCode);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Warning, Message = "Creating {Topic} failed")]
    private partial void LogCreateFailed(Exception exception, string topic);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Warning, Message = "Appending {Records} group records to {Topic}-{Partition} failed: {Error}")]
    private partial void LogAppendRefused(string topic, int partition, int records, GroupErrorCode error);

    [LoggerMessage(EventId = 1107, Level = LogLevel.Error, Message = "Appending group records to {Topic}-{Partition} threw")]
    private partial void LogAppendFailed(Exception exception, string topic, int partition);

    [LoggerMessage(EventId = 1108, Level = LogLevel.Warning, Message = "Group coordinator loop failed")]
    private partial void LogLoopFailed(Exception exception);
}

/// <summary>FindCoordinator's answer for one key.</summary>
public sealed record CoordinatorLookup(GroupErrorCode Error, int NodeId, string Host, int Port)
{
    public static CoordinatorLookup Unavailable { get; } = new(GroupErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1);
}
