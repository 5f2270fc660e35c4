using System.Runtime.InteropServices;
using Kraft.Broker.Cluster;
using Kraft.Broker.Network;
using Kraft.Broker.Replication;
using Kraft.Protocol;
using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;

namespace Kraft.Broker.Handlers;

/// <summary>
/// Serves the data plane and metadata from this broker's replicas and cluster view: ApiVersions, Metadata,
/// Produce, Fetch (consumers and followers, long-poll), ListOffsets, OffsetsForLeaderEpoch. Record batches pass
/// from the request frame to the log and from the log to the response as bytes. Every refusal is a Kafka error
/// code on the partition it concerns. Other APIs go to <see cref="Next"/> (admin, groups) when set.
/// Thread-safety: stateless apart from its dependencies; called concurrently from every connection.
/// </summary>
public sealed class DataPlaneHandler : IKafkaRequestHandler
{
    private readonly int _brokerId;
    private readonly Func<ClusterView> _view;
    private readonly ReplicaManager _replicas;
    private readonly Func<string, int> _minInSyncReplicasFor;
    private readonly TimeProvider _time;

    public DataPlaneHandler(int brokerId, Func<ClusterView> view, ReplicaManager replicas, Func<string, int> minInSyncReplicasFor, TimeProvider time)
    {
        _brokerId = brokerId;
        _view = view;
        _replicas = replicas;
        _minInSyncReplicasFor = minInSyncReplicasFor;
        _time = time;
    }

    /// <summary>The longest a Fetch waits for data (Kafka's request.timeout.ms default).</summary>
    public const int MaxFetchWaitMs = 30_000;

    /// <summary>
    /// auto.create.topics.enable: when set, a Metadata request that allows auto-creation and names an unknown topic
    /// starts its creation (with the cluster defaults) and gets LEADER_NOT_AVAILABLE for it, so the client retries.
    /// </summary>
    public Func<string, Task>? AutoCreateTopic { get; set; }

    /// <summary>Where requests this handler does not serve go (admin and group APIs).</summary>
    public IKafkaRequestHandler? Next { get; set; }

    /// <summary>The APIs and versions this handler (plus <see cref="Next"/>) answers, for ApiVersions.</summary>
    public ApiVersionsTable Apis { get; set; } = Served(ApiVersionsTable.BrokerListener, [ApiKey.ApiVersions, ApiKey.Metadata, ApiKey.Produce, ApiKey.Fetch, ApiKey.ListOffsets, ApiKey.OffsetForLeaderEpoch]);

    /// <summary>The ranges of <paramref name="table"/> for <paramref name="keys"/> only.</summary>
    public static ApiVersionsTable Served(ApiVersionsTable table, IEnumerable<ApiKey> keys)
    {
        var set = keys.ToHashSet();
        return new ApiVersionsTable(table.Ranges.Where(r => set.Contains(r.ApiKey)));
    }

    public ValueTask<IResponseMessage?> HandleAsync(DecodedRequest request, ConnectionInfo connection, CancellationToken cancellationToken) =>
        request.Message switch
        {
            ApiVersionsRequest => ValueTask.FromResult<IResponseMessage?>(Apis.CreateResponse()),
            MetadataRequest metadata => ValueTask.FromResult<IResponseMessage?>(Metadata(metadata)),
            ProduceRequest produce => ProduceAsync(produce, cancellationToken),
            FetchRequest fetch => FetchAsync(fetch, request.Header.ApiVersion, cancellationToken),
            ListOffsetsRequest listOffsets => ValueTask.FromResult<IResponseMessage?>(ListOffsets(listOffsets)),
            OffsetForLeaderEpochRequest epochs => ValueTask.FromResult<IResponseMessage?>(OffsetsForLeaderEpoch(epochs)),
            DescribeClusterRequest describe => ValueTask.FromResult<IResponseMessage?>(DescribeCluster(describe)),
            _ when Next is not null => Next.HandleAsync(request, connection, cancellationToken),
            _ => throw new NotSupportedException($"{request.Header.ApiKey} is not served by this node"),
        };

    /// <summary>
    /// The controller id told to clients. Admin clients send controller requests to that node, so it must be a broker
    /// they can reach: the active controller when it is also an unfenced broker, otherwise the lowest unfenced broker
    /// (which forwards them), as Kafka's KRaft brokers answer with a live broker rather than a controller-only node.
    /// </summary>
    private static int ControllerIdForClients(ClusterView view) =>
        view.Brokers.TryGetValue(view.ControllerId, out var controller) && !controller.Fenced ? view.ControllerId
        : view.Brokers.Values.Where(b => !b.Fenced).Select(b => b.Id).DefaultIfEmpty(-1).Min();

    /// <summary>
    /// DescribeCluster (KIP-700) on the broker listener: cluster id, controller id and the unfenced brokers with their
    /// racks. Kraft has no authorizer, so authorized operations are never computed (int.MinValue, Kafka's "omitted").
    /// Asking a broker for controllers (EndpointType 2, KIP-919) is refused as in Kafka.
    /// </summary>
    private DescribeClusterResponse DescribeCluster(DescribeClusterRequest request)
    {
        var view = _view();
        const sbyte BrokerEndpoint = 1;
        if (request.EndpointType != BrokerEndpoint)
        {
            return new DescribeClusterResponse
            {
                ErrorCode = (short)ErrorCode.MISMATCHED_ENDPOINT_TYPE,
                ErrorMessage = "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER",
                EndpointType = request.EndpointType,
                ClusterId = view.ClusterId,
                Brokers = [],
            };
        }
        return new DescribeClusterResponse
        {
            EndpointType = BrokerEndpoint,
            ClusterId = view.ClusterId,
            ControllerId = ControllerIdForClients(view),
            Brokers = view.Brokers.Values.Where(b => !b.Fenced).OrderBy(b => b.Id)
                .Select(b => new DescribeClusterResponse.DescribeClusterBroker { BrokerId = b.Id, Host = b.Host, Port = b.Port, Rack = b.Rack }).ToList(),
            ClusterAuthorizedOperations = int.MinValue,
        };
    }

    private MetadataResponse Metadata(MetadataRequest request)
    {
        var view = _view();
        var response = new MetadataResponse
        {
            ClusterId = view.ClusterId,
            ControllerId = ControllerIdForClients(view),
            Brokers = view.Brokers.Values.Where(b => !b.Fenced).OrderBy(b => b.Id)
                .Select(b => new MetadataResponse.MetadataResponseBroker { NodeId = b.Id, Host = b.Host, Port = b.Port, Rack = b.Rack }).ToList(),
            Topics = [],
        };
        IEnumerable<(string? Name, Guid Id)> wanted = request.Topics is null
            ? view.Topics.Values.Select(t => ((string?)t.Name, t.TopicId))
            : request.Topics.Select(t => (t.Name, t.TopicId));
        foreach (var (name, id) in wanted)
        {
            var topic = name is not null ? view.Topics.GetValueOrDefault(name) : view.Topics.Values.FirstOrDefault(t => t.TopicId == id);
            if (topic is null)
            {
                bool creating = name is not null && request.AllowAutoTopicCreation && AutoCreateTopic is not null && IsLegalTopicName(name);
                if (creating)
                {
                    _ = AutoCreateTopic!(name!); // answered by the controller; the client asks again
                }
                response.Topics.Add(new MetadataResponse.MetadataResponseTopic
                {
                    Name = name,
                    TopicId = id,
                    ErrorCode = (short)(creating ? ErrorCode.LEADER_NOT_AVAILABLE : name is null ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
                    Partitions = [],
                });
                continue;
            }
            response.Topics.Add(new MetadataResponse.MetadataResponseTopic
            {
                Name = topic.Name,
                TopicId = topic.TopicId,
                IsInternal = topic.IsInternal,
                Partitions = topic.Partitions.OrderBy(p => p.Partition).Select(p => new MetadataResponse.MetadataResponsePartition
                {
                    ErrorCode = (short)(p.IsOffline ? ErrorCode.LEADER_NOT_AVAILABLE : ErrorCode.NONE),
                    PartitionIndex = p.Partition,
                    LeaderId = p.Leader,
                    LeaderEpoch = p.LeaderEpoch,
                    ReplicaNodes = [.. p.Replicas],
                    IsrNodes = [.. p.Isr],
                    OfflineReplicas = p.Replicas.Where(r => !view.Brokers.TryGetValue(r, out var b) || b.Fenced).ToList(),
                }).ToList(),
            });
        }
        return response;
    }

    private static bool IsLegalTopicName(string name) =>
        name.Length is > 0 and <= 249 && name is not "." and not ".." && !name.StartsWith("__", StringComparison.Ordinal)
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    private async ValueTask<IResponseMessage?> ProduceAsync(ProduceRequest request, CancellationToken cancellationToken)
    {
        var view = _view();
        var timeout = TimeSpan.FromMilliseconds(Math.Max(1, request.TimeoutMs));
        var pending = new List<(ProduceResponse.PartitionProduceResponse Answer, Task<ProduceOutcome>? Outcome, Partition? Partition)>();
        var response = new ProduceResponse { Responses = [] };
        foreach (var topic in request.TopicData)
        {
            var topicAnswer = new ProduceResponse.TopicProduceResponse { Name = topic.Name, PartitionResponses = [] };
            response.Responses.Add(topicAnswer);
            foreach (var data in topic.PartitionData)
            {
                var answer = new ProduceResponse.PartitionProduceResponse { Index = data.Index, BaseOffset = -1, LogAppendTimeMs = -1, LogStartOffset = -1, RecordErrors = [] };
                topicAnswer.PartitionResponses.Add(answer);
                var partition = _replicas.Get(topic.Name, data.Index);
                if (partition is null)
                {
                    answer.ErrorCode = (short)(view.Topics.TryGetValue(topic.Name, out var t) && t.Partitions.Any(p => p.Partition == data.Index)
                        ? ErrorCode.NOT_LEADER_OR_FOLLOWER : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
                    continue;
                }
                if (data.Records is not { Length: > 0 } records)
                {
                    answer.ErrorCode = (short)ErrorCode.CORRUPT_MESSAGE;
                    continue;
                }
                // The frame buffer belongs to this request: the leader rewrites offsets and epoch in place.
                var writable = MemoryMarshal.AsMemory(records);
                Observability.BrokerMetrics.BytesIn.Add(records.Length, new KeyValuePair<string, object?>("topic", topic.Name));
                var outcome = partition.AppendAsLeaderAsync(writable.Span, request.Acks, _minInSyncReplicasFor(topic.Name), timeout, cancellationToken);
                pending.Add((answer, outcome, partition));
            }
        }
        foreach (var (answer, task, partition) in pending)
        {
            var outcome = await task!.ConfigureAwait(false);
            answer.ErrorCode = outcome.AppendError != Storage.Log.AppendError.None ? ErrorCodes.Of(outcome.AppendError) : ErrorCodes.Of(outcome.Error);
            answer.BaseOffset = outcome.BaseOffset;
            answer.LogStartOffset = partition!.Log.LogStartOffset;
            Observability.BrokerMetrics.RecordPartitionError(ApiKey.Produce, answer.ErrorCode);
        }
        return request.Acks == 0 ? null : response;
    }

    private async ValueTask<IResponseMessage?> FetchAsync(FetchRequest request, short version, CancellationToken cancellationToken)
    {
        // A long poll never outlasts request.timeout.ms (30 s): a client asking for more is not waiting anyway.
        int maxWaitMs = Math.Clamp(request.MaxWaitMs, 0, MaxFetchWaitMs);
        long deadline = _time.GetTimestamp() + (long)(maxWaitMs * (_time.TimestampFrequency / 1000.0));
        while (true)
        {
            var wake = _replicas.Changed.NextAsync();
            var (response, bytes, anyError) = ReadOnce(request, version);
            long remaining = deadline - _time.GetTimestamp();
            if (bytes >= Math.Max(1, request.MinBytes) || anyError || remaining <= 0 || maxWaitMs <= 0)
            {
                return response;
            }
            var delay = TimeSpan.FromSeconds(remaining / (double)_time.TimestampFrequency);
            await Task.WhenAny(wake, Task.Delay(delay, _time, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private (FetchResponse Response, long Bytes, bool AnyError) ReadOnce(FetchRequest request, short version)
    {
        var view = _view();
        long total = 0;
        bool anyError = false;
        int budget = request.MaxBytes <= 0 ? int.MaxValue : request.MaxBytes;
        var response = new FetchResponse { Responses = [], SessionId = 0 };
        foreach (var topic in request.Topics)
        {
            string? name = version >= 13 ? view.Topics.Values.FirstOrDefault(t => t.TopicId == topic.TopicId)?.Name : topic.Topic;
            var topicAnswer = new FetchResponse.FetchableTopicResponse { Topic = name ?? "", TopicId = topic.TopicId, Partitions = [] };
            response.Responses.Add(topicAnswer);
            foreach (var p in topic.Partitions)
            {
                var answer = new FetchResponse.PartitionData
                {
                    PartitionIndex = p.Partition,
                    HighWatermark = -1,
                    LastStableOffset = -1,
                    LogStartOffset = -1,
                    PreferredReadReplica = -1,
                    Records = ReadOnlyMemory<byte>.Empty,
                };
                topicAnswer.Partitions.Add(answer);
                var partition = name is null ? null : _replicas.Get(name, p.Partition);
                if (partition is null)
                {
                    answer.ErrorCode = (short)(name is null ? ErrorCode.UNKNOWN_TOPIC_ID
                        : view.Topics.TryGetValue(name, out var t) && t.Partitions.Any(x => x.Partition == p.Partition) ? ErrorCode.NOT_LEADER_OR_FOLLOWER : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
                    anyError = true;
                    continue;
                }
                int max = Math.Min(p.PartitionMaxBytes <= 0 ? int.MaxValue : p.PartitionMaxBytes, budget);
                var read = request.ReplicaId >= 0
                    ? partition.HandleFollowerFetch(request.ReplicaId, p.FetchOffset, p.LastFetchedEpoch, p.CurrentLeaderEpoch, Math.Max(max, 1))
                    : partition.ReadForConsumer(p.FetchOffset, Math.Max(max, 1), p.CurrentLeaderEpoch);
                answer.ErrorCode = ErrorCodes.Of(read.Error);
                Observability.BrokerMetrics.RecordPartitionError(ApiKey.Fetch, answer.ErrorCode);
                answer.HighWatermark = read.HighWatermark;
                answer.LastStableOffset = read.HighWatermark;
                answer.LogStartOffset = read.LogStartOffset;
                if (read.DivergingEpoch is { } diverging)
                {
                    answer.DivergingEpoch = new FetchResponse.EpochEndOffset { Epoch = diverging.Epoch, EndOffset = diverging.EndOffset };
                    anyError = true;
                }
                if (read.Error != ReplicationError.None)
                {
                    anyError = true;
                    if (view.Topics.TryGetValue(name!, out var t) && t.Partitions.FirstOrDefault(x => x.Partition == p.Partition) is { } info)
                    {
                        answer.CurrentLeader = new FetchResponse.LeaderIdAndEpoch { LeaderId = info.Leader, LeaderEpoch = info.LeaderEpoch };
                    }
                    continue;
                }
                answer.Records = read.Records;
                total += read.Records.Length;
                if (read.Records.Length > 0 && request.ReplicaId < 0)
                {
                    Observability.BrokerMetrics.BytesOut.Add(read.Records.Length, new KeyValuePair<string, object?>("topic", name));
                }
                budget = Math.Max(0, budget - read.Records.Length);
            }
        }
        return (response, total, anyError);
    }

    private ListOffsetsResponse ListOffsets(ListOffsetsRequest request)
    {
        var response = new ListOffsetsResponse { Topics = [] };
        foreach (var topic in request.Topics)
        {
            var topicAnswer = new ListOffsetsResponse.ListOffsetsTopicResponse { Name = topic.Name, Partitions = [] };
            response.Topics.Add(topicAnswer);
            foreach (var p in topic.Partitions)
            {
                var answer = new ListOffsetsResponse.ListOffsetsPartitionResponse { PartitionIndex = p.PartitionIndex, Timestamp = -1, Offset = -1, LeaderEpoch = -1 };
                topicAnswer.Partitions.Add(answer);
                var partition = _replicas.Get(topic.Name, p.PartitionIndex);
                if (partition is null || !partition.IsLeader)
                {
                    answer.ErrorCode = (short)(_view().Topics.ContainsKey(topic.Name) ? ErrorCode.NOT_LEADER_OR_FOLLOWER : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
                    continue;
                }
                int epoch = partition.LeaderEpoch;
                if (p.CurrentLeaderEpoch >= 0 && p.CurrentLeaderEpoch != epoch)
                {
                    answer.ErrorCode = (short)(p.CurrentLeaderEpoch < epoch ? ErrorCode.FENCED_LEADER_EPOCH : ErrorCode.UNKNOWN_LEADER_EPOCH);
                    continue;
                }
                long hw = partition.HighWatermark;
                answer.LeaderEpoch = epoch;
                if (p.Timestamp != -2 && !partition.HighWatermarkEstablished)
                {
                    // KIP-207: a new leader's inherited high watermark may be behind acknowledged writes; the client retries.
                    answer.ErrorCode = (short)ErrorCode.OFFSET_NOT_AVAILABLE;
                    continue;
                }
                switch (p.Timestamp)
                {
                    case -2: // earliest
                        answer.Offset = partition.Log.LogStartOffset;
                        break;
                    case -1: // latest: the high watermark (what consumers can read)
                    case -3: // max timestamp (KIP-734): not tracked per record yet; answer the latest offset
                        answer.Offset = hw;
                        break;
                    default:
                        long found = partition.Log.OffsetForTimestamp(p.Timestamp);
                        answer.Offset = found >= 0 && found < hw ? found : -1;
                        answer.Timestamp = found >= 0 && found < hw ? p.Timestamp : -1;
                        break;
                }
            }
        }
        return response;
    }

    private OffsetForLeaderEpochResponse OffsetsForLeaderEpoch(OffsetForLeaderEpochRequest request)
    {
        var response = new OffsetForLeaderEpochResponse { Topics = [] };
        foreach (var topic in request.Topics)
        {
            var topicAnswer = new OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult { Topic = topic.Topic, Partitions = [] };
            response.Topics.Add(topicAnswer);
            foreach (var p in topic.Partitions)
            {
                var answer = new OffsetForLeaderEpochResponse.EpochEndOffset { Partition = p.Partition, LeaderEpoch = -1, EndOffset = -1 };
                topicAnswer.Partitions.Add(answer);
                var partition = _replicas.Get(topic.Topic, p.Partition);
                if (partition is null || !partition.IsLeader)
                {
                    answer.ErrorCode = (short)(_view().Topics.ContainsKey(topic.Topic) ? ErrorCode.NOT_LEADER_OR_FOLLOWER : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
                    continue;
                }
                if (p.CurrentLeaderEpoch >= 0 && p.CurrentLeaderEpoch != partition.LeaderEpoch)
                {
                    answer.ErrorCode = (short)(p.CurrentLeaderEpoch < partition.LeaderEpoch ? ErrorCode.FENCED_LEADER_EPOCH : ErrorCode.UNKNOWN_LEADER_EPOCH);
                    continue;
                }
                var (epoch, end) = partition.Log.EpochCache.EndOffsetFor(p.LeaderEpoch, partition.Log.LogEndOffset);
                answer.LeaderEpoch = epoch;
                answer.EndOffset = end;
            }
        }
        return response;
    }
}
