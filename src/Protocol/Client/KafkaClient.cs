using Kraft.Protocol.Messages;

namespace Kraft.Protocol.Client;

/// <summary>
/// A small Kafka client: bootstrap, metadata-based routing to partition leaders, and one method per request the
/// CLI and tests need. It returns Kafka's responses (with their error codes) rather than interpreting them.
/// </summary>
/// <remarks>
/// Role: admin and test client, not a full producer/consumer (no batching, retries or rebalancing).
/// Invariants: at most one open connection per address; a connection that failed is replaced on next use.
/// Partition leaders come from the last Metadata response for the topic; <see cref="InvalidateMetadata"/>
/// (called automatically when a partition answers NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION or
/// LEADER_NOT_AVAILABLE) forces a fresh lookup. Thread-safe: connections are pipelined and shared.
/// </remarks>
public sealed class KafkaClient : IAsyncDisposable
{
    private readonly KafkaClientOptions _options;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private readonly Dictionary<string, KafkaConnection> _connections = new();
    private readonly Dictionary<string, MetadataResponse.MetadataResponseTopic> _topics = new();
    private readonly Dictionary<int, string> _brokerAddresses = new();
    private readonly object _cacheLock = new();
    private int _controllerId = -1;

    public KafkaClient(KafkaClientOptions options)
    {
        if (options.BootstrapServers.Count == 0)
        {
            throw new ArgumentException("at least one bootstrap server is needed", nameof(options));
        }

        _options = options;
    }

    /// <summary>Splits "host:port" (IPv6 hosts in brackets: "[::1]:9092").</summary>
    public static (string Host, int Port) ParseAddress(string address)
    {
        int colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), out int port) || port is <= 0 or > 65535)
        {
            throw new ArgumentException($"'{address}' is not host:port");
        }

        return (address[..colon].Trim('[', ']'), port);
    }

    /// <summary>An open connection to <paramref name="address"/> (host:port), reused while it is alive.</summary>
    public async Task<KafkaConnection> GetConnectionAsync(string address, CancellationToken cancellationToken = default)
    {
        await _connectLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connections.TryGetValue(address, out var existing))
            {
                if (existing.IsAlive)
                {
                    return existing;
                }

                _connections.Remove(address);
                await existing.DisposeAsync().ConfigureAwait(false);
            }

            var (host, port) = ParseAddress(address);
            var connection = await KafkaConnection.ConnectAsync(host, port, _options, cancellationToken).ConfigureAwait(false);
            _connections[address] = connection;
            return connection;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    /// <summary>A connection to the first bootstrap server that accepts one, trying them in order.</summary>
    public async Task<KafkaConnection> GetBootstrapConnectionAsync(CancellationToken cancellationToken = default)
    {
        var failures = new List<Exception>();
        foreach (var address in _options.BootstrapServers)
        {
            try
            {
                return await GetConnectionAsync(address, cancellationToken).ConfigureAwait(false);
            }
            catch (KafkaClientException e)
            {
                failures.Add(e);
            }
        }

        throw new KafkaClientException(
            "no bootstrap server answered: " + string.Join("; ", failures.Select(f => f.Message)),
            new AggregateException(failures));
    }

    /// <summary>A connection to broker <paramref name="nodeId"/>, as listed by the last Metadata response.</summary>
    public async Task<KafkaConnection> GetBrokerConnectionAsync(int nodeId, CancellationToken cancellationToken = default)
    {
        string? address;
        lock (_cacheLock)
        {
            _brokerAddresses.TryGetValue(nodeId, out address);
        }

        if (address is null)
        {
            await MetadataAsync([], cancellationToken).ConfigureAwait(false);
            lock (_cacheLock)
            {
                if (!_brokerAddresses.TryGetValue(nodeId, out address))
                {
                    throw new KafkaClientException($"broker {nodeId} is not in the cluster metadata");
                }
            }
        }

        return await GetConnectionAsync(address, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Forgets cached leaders so the next partition request asks for fresh metadata.</summary>
    public void InvalidateMetadata()
    {
        lock (_cacheLock)
        {
            _topics.Clear();
        }
    }

    private async Task<KafkaConnection> GetAdminConnectionAsync(CancellationToken cancellationToken)
    {
        // KRaft brokers forward admin requests to the active controller, so any broker will do; Kafka's admin
        // client prefers the node Metadata names as controller, and so do we when we know it.
        int controller;
        lock (_cacheLock)
        {
            controller = _controllerId;
        }

        if (controller >= 0)
        {
            try
            {
                return await GetBrokerConnectionAsync(controller, cancellationToken).ConfigureAwait(false);
            }
            catch (KafkaClientException)
            {
                // Fall back to any bootstrap server below.
            }
        }

        return await GetBootstrapConnectionAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Metadata for <paramref name="topics"/> (all topics when null; brokers only when empty). Updates the
    /// broker address and leader caches.
    /// </summary>
    public async Task<MetadataResponse> MetadataAsync(IReadOnlyCollection<string>? topics, CancellationToken cancellationToken = default, bool allowAutoTopicCreation = false)
    {
        var connection = await GetBootstrapConnectionAsync(cancellationToken).ConfigureAwait(false);
        var request = new MetadataRequest
        {
            AllowAutoTopicCreation = allowAutoTopicCreation,
            Topics = topics?.Select(t => new MetadataRequest.MetadataRequestTopic { Name = t }).ToList(),
        };
        var response = await connection.SendAsync<MetadataResponse>(request, cancellationToken: cancellationToken).ConfigureAwait(false);
        lock (_cacheLock)
        {
            foreach (var broker in response.Brokers)
            {
                _brokerAddresses[broker.NodeId] = broker.Host.Contains(':') ? $"[{broker.Host}]:{broker.Port}" : $"{broker.Host}:{broker.Port}";
            }

            _controllerId = response.ControllerId;
            foreach (var topic in response.Topics)
            {
                if (topic.Name is not null && topic.ErrorCode == 0)
                {
                    _topics[topic.Name] = topic;
                }
            }
        }

        return response;
    }

    /// <summary>The cached or freshly fetched metadata of one partition: its leader and the topic id.</summary>
    public async Task<(int LeaderId, Guid TopicId)> FindLeaderAsync(string topic, int partition, CancellationToken cancellationToken = default)
    {
        MetadataResponse.MetadataResponseTopic? known;
        lock (_cacheLock)
        {
            _topics.TryGetValue(topic, out known);
        }

        if (known is null)
        {
            var response = await MetadataAsync([topic], cancellationToken).ConfigureAwait(false);
            known = response.Topics.FirstOrDefault(t => t.Name == topic);
            if (known is null || known.ErrorCode != 0)
            {
                throw new KafkaClientException($"metadata for {topic}: {(ErrorCode)(known?.ErrorCode ?? (short)ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)}");
            }
        }

        var found = known.Partitions.FirstOrDefault(p => p.PartitionIndex == partition)
            ?? throw new KafkaClientException($"{topic} has no partition {partition}");
        if (found.LeaderId < 0)
        {
            InvalidateMetadata();
            throw new KafkaClientException($"{topic}-{partition} has no leader ({(ErrorCode)found.ErrorCode})");
        }

        return (found.LeaderId, known.TopicId);
    }

    private void ForgetLeaderOnError(short errorCode)
    {
        if (errorCode is (short)ErrorCode.NOT_LEADER_OR_FOLLOWER or (short)ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            or (short)ErrorCode.LEADER_NOT_AVAILABLE or (short)ErrorCode.FENCED_LEADER_EPOCH or (short)ErrorCode.UNKNOWN_TOPIC_ID)
        {
            InvalidateMetadata();
        }
    }

    /// <summary>Creates topics; a replication factor or partition count of -1 means the broker's default.</summary>
    public async Task<CreateTopicsResponse> CreateTopicsAsync(
        IEnumerable<(string Name, int NumPartitions, short ReplicationFactor)> topics,
        IReadOnlyDictionary<string, string?>? configs = null,
        int timeoutMs = 60000,
        bool validateOnly = false,
        CancellationToken cancellationToken = default)
    {
        var request = new CreateTopicsRequest { timeoutMs = timeoutMs, validateOnly = validateOnly };
        foreach (var (name, partitions, replication) in topics)
        {
            var topic = new CreateTopicsRequest.CreatableTopic { Name = name, NumPartitions = partitions, ReplicationFactor = replication };
            foreach (var (key, value) in configs ?? new Dictionary<string, string?>())
            {
                topic.Configs.Add(new CreateTopicsRequest.CreatableTopicConfig { Name = key, Value = value });
            }

            request.Topics.Add(topic);
        }

        var connection = await GetAdminConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await connection.SendAsync<CreateTopicsResponse>(request, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes topics by name.</summary>
    public async Task<DeleteTopicsResponse> DeleteTopicsAsync(IEnumerable<string> names, int timeoutMs = 30000, CancellationToken cancellationToken = default)
    {
        var list = names.ToList();
        var request = new DeleteTopicsRequest
        {
            TimeoutMs = timeoutMs,
            TopicNames = list,
            Topics = list.Select(n => new DeleteTopicsRequest.DeleteTopicState { Name = n }).ToList(),
        };
        var connection = await GetAdminConnectionAsync(cancellationToken).ConfigureAwait(false);
        var response = await connection.SendAsync<DeleteTopicsResponse>(request, cancellationToken: cancellationToken).ConfigureAwait(false);
        InvalidateMetadata();
        return response;
    }

    /// <summary>
    /// Sends one record batch (already encoded, magic 2) to the partition leader. With acks=0 nothing comes back
    /// and the result is null.
    /// </summary>
    public async Task<ProduceResponse.PartitionProduceResponse?> ProduceAsync(
        string topic, int partition, ReadOnlyMemory<byte> recordBatch, short acks = -1, int timeoutMs = 30000,
        string? transactionalId = null, CancellationToken cancellationToken = default)
    {
        var (leader, _) = await FindLeaderAsync(topic, partition, cancellationToken).ConfigureAwait(false);
        var connection = await GetBrokerConnectionAsync(leader, cancellationToken).ConfigureAwait(false);
        var request = new ProduceRequest
        {
            Acks = acks,
            TimeoutMs = timeoutMs,
            TransactionalId = transactionalId,
            TopicData =
            [
                new ProduceRequest.TopicProduceData
                {
                    Name = topic,
                    PartitionData = [new ProduceRequest.PartitionProduceData { Index = partition, Records = recordBatch }],
                },
            ],
        };
        if (acks == 0)
        {
            await connection.SendOneWayAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
            return null;
        }

        var response = await connection.SendAsync<ProduceResponse>(request, cancellationToken: cancellationToken).ConfigureAwait(false);
        var result = response.Responses.SelectMany(t => t.PartitionResponses).FirstOrDefault(p => p.Index == partition)
            ?? throw new KafkaClientException($"produce to {topic}-{partition}: the response does not mention the partition");
        ForgetLeaderOnError(result.ErrorCode);
        return result;
    }

    /// <summary>Fetches from one partition's leader, starting at <paramref name="offset"/>.</summary>
    public async Task<FetchResponse.PartitionData> FetchAsync(
        string topic, int partition, long offset, int maxBytes = 1024 * 1024, int maxWaitMs = 500, int minBytes = 1,
        sbyte isolationLevel = 0, CancellationToken cancellationToken = default)
    {
        var (leader, topicId) = await FindLeaderAsync(topic, partition, cancellationToken).ConfigureAwait(false);
        var connection = await GetBrokerConnectionAsync(leader, cancellationToken).ConfigureAwait(false);
        short version = connection.VersionFor(ApiKey.Fetch);
        if (version >= 13 && topicId == Guid.Empty)
        {
            // Fetch v13 names topics by id only; without one, fall back to the last version that uses names.
            version = 12;
        }

        var request = new FetchRequest
        {
            ReplicaId = -1,
            MaxWaitMs = maxWaitMs,
            MinBytes = minBytes,
            MaxBytes = maxBytes,
            IsolationLevel = isolationLevel,
            SessionEpoch = -1,
            Topics =
            [
                new FetchRequest.FetchTopic
                {
                    Topic = topic,
                    TopicId = topicId,
                    Partitions = [new FetchRequest.FetchPartition { Partition = partition, FetchOffset = offset, PartitionMaxBytes = maxBytes }],
                },
            ],
        };
        var response = await connection.SendAsync<FetchResponse>(request, version, cancellationToken).ConfigureAwait(false);
        if (response.ErrorCode != 0 && response.Responses.Count == 0)
        {
            throw new KafkaClientException($"fetch from {topic}-{partition}: {(ErrorCode)response.ErrorCode}");
        }

        var result = response.Responses.SelectMany(t => t.Partitions).FirstOrDefault(p => p.PartitionIndex == partition)
            ?? throw new KafkaClientException($"fetch from {topic}-{partition}: the response does not mention the partition");
        ForgetLeaderOnError(result.ErrorCode);
        return result;
    }

    /// <summary>Kafka's special ListOffsets timestamps.</summary>
    public const long LatestTimestamp = -1, EarliestTimestamp = -2;

    /// <summary>The offset for <paramref name="timestamp"/> (or <see cref="LatestTimestamp"/>/<see cref="EarliestTimestamp"/>).</summary>
    public async Task<ListOffsetsResponse.ListOffsetsPartitionResponse> ListOffsetsAsync(
        string topic, int partition, long timestamp, sbyte isolationLevel = 0, CancellationToken cancellationToken = default)
    {
        var (leader, _) = await FindLeaderAsync(topic, partition, cancellationToken).ConfigureAwait(false);
        var connection = await GetBrokerConnectionAsync(leader, cancellationToken).ConfigureAwait(false);
        var request = new ListOffsetsRequest
        {
            ReplicaId = -1,
            IsolationLevel = isolationLevel,
            Topics =
            [
                new ListOffsetsRequest.ListOffsetsTopic
                {
                    Name = topic,
                    Partitions = [new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = partition, Timestamp = timestamp }],
                },
            ],
        };
        var response = await connection.SendAsync<ListOffsetsResponse>(request, cancellationToken: cancellationToken).ConfigureAwait(false);
        var result = response.Topics.SelectMany(t => t.Partitions).FirstOrDefault(p => p.PartitionIndex == partition)
            ?? throw new KafkaClientException($"list offsets of {topic}-{partition}: the response does not mention the partition");
        ForgetLeaderOnError(result.ErrorCode);
        return result;
    }

    /// <summary>The coordinator of a group (keyType 0) or transactional id (keyType 1): (error, node id, host, port).</summary>
    public async Task<(ErrorCode Error, int NodeId, string Host, int Port)> FindCoordinatorAsync(
        string key, sbyte keyType = 0, CancellationToken cancellationToken = default)
    {
        var connection = await GetBootstrapConnectionAsync(cancellationToken).ConfigureAwait(false);
        var request = new FindCoordinatorRequest { Key = key, KeyType = keyType, CoordinatorKeys = [key] };
        short version = connection.VersionFor(ApiKey.FindCoordinator);
        var response = await connection.SendAsync<FindCoordinatorResponse>(request, version, cancellationToken).ConfigureAwait(false);
        if (version >= 4)
        {
            var c = response.Coordinators.FirstOrDefault(c => c.Key == key)
                ?? throw new KafkaClientException($"find coordinator for {key}: the response does not mention the key");
            return ((ErrorCode)c.ErrorCode, c.NodeId, c.Host, c.Port);
        }

        return ((ErrorCode)response.ErrorCode, response.NodeId, response.Host, response.Port);
    }

    private async Task<KafkaConnection> GetCoordinatorConnectionAsync(string groupId, CancellationToken cancellationToken)
    {
        var (error, _, host, port) = await FindCoordinatorAsync(groupId, 0, cancellationToken).ConfigureAwait(false);
        if (error != ErrorCode.NONE)
        {
            throw new KafkaClientException($"coordinator of group {groupId}: {error}");
        }

        return await GetConnectionAsync(host.Contains(':') ? $"[{host}]:{port}" : $"{host}:{port}", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Commits offsets for a group outside any generation (generation -1, empty member id: Kafka's "simple"
    /// commit, as kafka-consumer-groups uses).
    /// </summary>
    public async Task<OffsetCommitResponse> OffsetCommitAsync(
        string groupId, IEnumerable<(string Topic, int Partition, long Offset)> offsets, string? metadata = null,
        int generationId = -1, string memberId = "", CancellationToken cancellationToken = default)
    {
        var request = new OffsetCommitRequest { GroupId = groupId, GenerationIdOrMemberEpoch = generationId, MemberId = memberId };
        foreach (var group in offsets.GroupBy(o => o.Topic))
        {
            request.Topics.Add(new OffsetCommitRequest.OffsetCommitRequestTopic
            {
                Name = group.Key,
                Partitions = group.Select(o => new OffsetCommitRequest.OffsetCommitRequestPartition
                {
                    PartitionIndex = o.Partition,
                    CommittedOffset = o.Offset,
                    CommittedMetadata = metadata,
                }).ToList(),
            });
        }

        var connection = await GetCoordinatorConnectionAsync(groupId, cancellationToken).ConfigureAwait(false);
        return await connection.SendAsync<OffsetCommitResponse>(request, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The committed offsets of a group for some partitions (all partitions when <paramref name="partitions"/>
    /// is null), flattened across the v1-v7 and v8 response shapes: (topic, partition, offset, metadata, error).
    /// </summary>
    public async Task<IReadOnlyList<(string Topic, int Partition, long Offset, string? Metadata, ErrorCode Error)>> OffsetFetchAsync(
        string groupId, IEnumerable<(string Topic, int Partition)>? partitions, CancellationToken cancellationToken = default)
    {
        var connection = await GetCoordinatorConnectionAsync(groupId, cancellationToken).ConfigureAwait(false);
        short version = connection.VersionFor(ApiKey.OffsetFetch);
        var byTopic = partitions?.GroupBy(p => p.Topic).ToList();
        var request = new OffsetFetchRequest
        {
            GroupId = groupId,
            Topics = byTopic?.Select(g => new OffsetFetchRequest.OffsetFetchRequestTopic
            {
                Name = g.Key,
                PartitionIndexes = g.Select(p => p.Partition).ToList(),
            }).ToList(),
            Groups =
            [
                new OffsetFetchRequest.OffsetFetchRequestGroup
                {
                    GroupId = groupId,
                    Topics = byTopic?.Select(g => new OffsetFetchRequest.OffsetFetchRequestTopics
                    {
                        Name = g.Key,
                        PartitionIndexes = g.Select(p => p.Partition).ToList(),
                    }).ToList(),
                },
            ],
        };
        var response = await connection.SendAsync<OffsetFetchResponse>(request, version, cancellationToken).ConfigureAwait(false);
        var results = new List<(string, int, long, string?, ErrorCode)>();
        if (version >= 8)
        {
            foreach (var group in response.Groups)
            {
                if (group.ErrorCode != 0)
                {
                    throw new KafkaClientException($"offset fetch for {groupId}: {(ErrorCode)group.ErrorCode}");
                }

                foreach (var topic in group.Topics)
                {
                    results.AddRange(topic.Partitions.Select(p => (topic.Name, p.PartitionIndex, p.CommittedOffset, p.Metadata, (ErrorCode)p.ErrorCode)));
                }
            }
        }
        else
        {
            if (response.ErrorCode != 0)
            {
                throw new KafkaClientException($"offset fetch for {groupId}: {(ErrorCode)response.ErrorCode}");
            }

            foreach (var topic in response.Topics)
            {
                results.AddRange(topic.Partitions.Select(p => (topic.Name, p.PartitionIndex, p.CommittedOffset, p.Metadata, (ErrorCode)p.ErrorCode)));
            }
        }

        return results;
    }

    public async Task<DescribeClusterResponse> DescribeClusterAsync(CancellationToken cancellationToken = default)
    {
        var connection = await GetBootstrapConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await connection.SendAsync<DescribeClusterResponse>(new DescribeClusterRequest(), cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Elects leaders: <paramref name="electionType"/> 0 = preferred, 1 = unclean. Null partitions means all
    /// partitions (preferred election only, as in Kafka).
    /// </summary>
    public async Task<ElectLeadersResponse> ElectLeadersAsync(
        IEnumerable<(string Topic, int Partition)>? partitions, sbyte electionType = 0, int timeoutMs = 60000,
        CancellationToken cancellationToken = default)
    {
        var request = new ElectLeadersRequest
        {
            ElectionType = electionType,
            TimeoutMs = timeoutMs,
            TopicPartitions = partitions?.GroupBy(p => p.Topic)
                .Select(g => new ElectLeadersRequest.TopicPartitionsItem { Topic = g.Key, Partitions = g.Select(p => p.Partition).ToList() })
                .ToList(),
        };
        var connection = await GetAdminConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await connection.SendAsync<ElectLeadersResponse>(request, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The state of the metadata quorum (topic __cluster_metadata, partition 0).</summary>
    public async Task<DescribeQuorumResponse> DescribeQuorumAsync(CancellationToken cancellationToken = default)
    {
        var request = new DescribeQuorumRequest
        {
            Topics =
            [
                new DescribeQuorumRequest.TopicData
                {
                    TopicName = "__cluster_metadata",
                    Partitions = [new DescribeQuorumRequest.PartitionData { PartitionIndex = 0 }],
                },
            ],
        };
        var connection = await GetAdminConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await connection.SendAsync<DescribeQuorumResponse>(request, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        List<KafkaConnection> open;
        await _connectLock.WaitAsync().ConfigureAwait(false);
        try
        {
            open = _connections.Values.ToList();
            _connections.Clear();
        }
        finally
        {
            _connectLock.Release();
        }

        foreach (var connection in open)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        _connectLock.Dispose();
    }
}
