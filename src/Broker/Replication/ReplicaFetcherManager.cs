using Kraft.Broker.Cluster;
using Kraft.Protocol;
using Kraft.Protocol.Client;
using Kraft.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace Kraft.Broker.Replication;

/// <summary>
/// Runs one fetch loop per leader broker this broker follows partitions of. Each loop sends Fetch requests
/// carrying this broker's replica id and, per partition, the fetch offset, last fetched epoch and current
/// leader epoch; it applies each partition's answer to the local replica (append, truncate on divergence,
/// restart below the leader's log start). Loops start and stop as leadership moves (<see cref="Sync"/>).
/// replica.fetch.wait.max.ms (500) and replica.fetch.max.bytes (1 MiB) bound each request.
/// Thread-safety: Sync may be called from any thread; each loop owns its connection.
/// </summary>
public sealed partial class ReplicaFetcherManager : IAsyncDisposable
{
    private readonly int _brokerId;
    private readonly ReplicaManager _replicas;
    private readonly Func<ClusterView> _view;
    private readonly KafkaClientOptions _clientOptions;
    private readonly ILogger _logger;
    private readonly Dictionary<int, (CancellationTokenSource Stop, Task Loop)> _loops = [];
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _disposed = new();
    private bool _disposing;

    public ReplicaFetcherManager(int brokerId, ReplicaManager replicas, Func<ClusterView> view, KafkaClientOptions clientOptions, ILogger logger)
    {
        _brokerId = brokerId;
        _replicas = replicas;
        _view = view;
        _clientOptions = clientOptions;
        _logger = logger;
    }

    public int FetchWaitMaxMs { get; init; } = 500;
    public int FetchMaxBytes { get; init; } = 1 << 20;

    /// <summary>Starts loops for leaders we now follow and stops loops for leaders we no longer follow.</summary>
    public void Sync()
    {
        var leaders = FollowedLeaders();
        lock (_lock)
        {
            if (_disposed.IsCancellationRequested || _disposing)
            {
                return;
            }
            foreach (var (leader, loop) in _loops.Where(l => !leaders.Contains(l.Key)).ToList())
            {
                _ = loop.Stop.CancelAsync();
                _loops.Remove(leader);
            }
            foreach (int leader in leaders.Where(l => !_loops.ContainsKey(l)))
            {
                var stop = CancellationTokenSource.CreateLinkedTokenSource(_disposed.Token);
                _loops[leader] = (stop, Task.Run(() => RunAsync(leader, stop.Token)));
            }
        }
    }

    private HashSet<int> FollowedLeaders() =>
        _replicas.Partitions.Where(p => p.NextFetch() is not null)
            .Select(p => LeaderOf(p)).Where(l => l >= 0 && l != _brokerId).ToHashSet();

    private int LeaderOf(Partition partition) =>
        _view().Topics.TryGetValue(partition.Topic, out var topic)
            ? topic.Partitions.FirstOrDefault(p => p.Partition == partition.PartitionIndex)?.Leader ?? -1
            : -1;

    private async Task RunAsync(int leader, CancellationToken cancellationToken)
    {
        KafkaConnection? connection = null;
        int failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (connection is null || !connection.IsAlive)
                {
                    if (connection is not null)
                    {
                        await connection.DisposeAsync().ConfigureAwait(false);
                    }
                    connection = null;
                    if (!_view().Brokers.TryGetValue(leader, out var broker))
                    {
                        await Task.Delay(200, cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    connection = await KafkaConnection.ConnectAsync(broker.Host, broker.Port, _clientOptions, cancellationToken).ConfigureAwait(false);
                }
                bool progressed = await FetchOnceAsync(connection, leader, cancellationToken).ConfigureAwait(false);
                failures = 0;
                if (!progressed)
                {
                    await Task.Delay(50, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failures++;
                LogFetchFailed(leader, e.Message);
                if (connection is not null)
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                    connection = null;
                }
                await Task.Delay(Math.Min(1000, 50 * failures), cancellationToken).ConfigureAwait(false);
            }
        }
        if (connection is not null)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>One Fetch round to <paramref name="leader"/>; false when there was nothing to fetch or every partition backed off.</summary>
    private async Task<bool> FetchOnceAsync(KafkaConnection connection, int leader, CancellationToken cancellationToken)
    {
        var view = _view();
        var partitions = _replicas.Partitions
            .Select(p => (Partition: p, Position: p.NextFetch()))
            .Where(x => x.Position is not null && LeaderOf(x.Partition) == leader)
            .ToList();
        if (partitions.Count == 0)
        {
            return false;
        }
        var request = new FetchRequest
        {
            ReplicaId = _brokerId,
            MaxWaitMs = FetchWaitMaxMs,
            MinBytes = 1,
            MaxBytes = 10 * FetchMaxBytes,
            IsolationLevel = 0,
            SessionId = 0,
            SessionEpoch = -1,
            Topics = [],
            ForgottenTopicsData = [],
            RackId = "",
        };
        foreach (var group in partitions.GroupBy(p => p.Partition.Topic))
        {
            request.Topics.Add(new FetchRequest.FetchTopic
            {
                Topic = group.Key,
                TopicId = view.Topics.TryGetValue(group.Key, out var t) ? t.TopicId : Guid.Empty,
                Partitions = group.Select(p => new FetchRequest.FetchPartition
                {
                    Partition = p.Partition.PartitionIndex,
                    FetchOffset = p.Position!.Value.FetchOffset,
                    LastFetchedEpoch = p.Position.Value.LastFetchedEpoch,
                    CurrentLeaderEpoch = p.Position.Value.CurrentLeaderEpoch,
                    LogStartOffset = p.Partition.Log.LogStartOffset,
                    PartitionMaxBytes = FetchMaxBytes,
                }).ToList(),
            });
        }
        var response = await connection.SendAsync<FetchResponse>(request, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (response.ErrorCode != 0)
        {
            return false;
        }
        bool progressed = false;
        foreach (var topic in response.Responses)
        {
            string? name = string.IsNullOrEmpty(topic.Topic) ? view.Topics.Values.FirstOrDefault(t => t.TopicId == topic.TopicId)?.Name : topic.Topic;
            if (name is null)
            {
                continue;
            }
            foreach (var data in topic.Partitions)
            {
                var partition = _replicas.Get(name, data.PartitionIndex);
                if (partition is null)
                {
                    continue;
                }
                var answer = new PartitionRead(
                    (ReplicationError)data.ErrorCode,
                    data.Records ?? ReadOnlyMemory<byte>.Empty, // a slice of the response frame: appended without another copy
                    data.HighWatermark,
                    data.LogStartOffset,
                    -1,
                    data.DivergingEpoch is { } d && d.EndOffset >= 0 ? (d.Epoch, d.EndOffset) : null);
                var kind = partition.ApplyFetchResponse(answer);
                progressed |= kind != FollowerActionKind.Backoff && (answer.Records.Length > 0 || kind != FollowerActionKind.Append);
            }
        }
        return progressed || response.Responses.Count > 0;
    }

    public async ValueTask DisposeAsync()
    {
        List<Task> loops;
        lock (_lock)
        {
            _disposing = true;
            loops = _loops.Values.Select(l => l.Loop).ToList();
            _loops.Clear();
        }
        await _disposed.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(loops).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _disposed.Dispose();
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "Replica fetch from broker {Leader} failed: {Reason}")]
    private partial void LogFetchFailed(int leader, string reason);
}
