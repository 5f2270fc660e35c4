using Kraft.Broker.Network;
using Kraft.Protocol;
using Kraft.Protocol.Client;
using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;

namespace Kraft.Broker.Controller;

/// <summary>
/// How a broker reaches the active controller: the Raft leader's id comes from this node's quorum view; when that
/// is this node, the request goes straight to the local <see cref="ControllerRequestHandler"/>, otherwise over the
/// controller listener of the leader (one cached connection). Callers check the response's error code and retry on
/// NOT_CONTROLLER or a failure after <see cref="RetryBackoff"/>.
/// Thread-safety: any thread; one connection at a time, replaced when the leader moves or the connection dies.
/// </summary>
public sealed class ControllerChannel : IAsyncDisposable
{
    private readonly int _localNodeId;
    private readonly Func<int?> _activeController;
    private readonly Func<int, (string Host, int Port)?> _controllerAddress;
    private readonly ControllerRequestHandler? _local;
    private readonly KafkaClientOptions _options;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private (int NodeId, KafkaConnection Connection)? _connection;

    public ControllerChannel(int localNodeId, Func<int?> activeController, Func<int, (string Host, int Port)?> controllerAddress, ControllerRequestHandler? local, KafkaClientOptions options)
    {
        _localNodeId = localNodeId;
        _activeController = activeController;
        _controllerAddress = controllerAddress;
        _local = local;
        _options = options;
    }

    public TimeSpan RetryBackoff { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The active controller's node id, if known.</summary>
    public int? ActiveController => _activeController();

    /// <summary>Sends once to the current active controller; throws if none is known or it cannot be reached.</summary>
    public async Task<TResponse> SendAsync<TResponse>(IRequestMessage request, CancellationToken cancellationToken)
        where TResponse : class, IResponseMessage
    {
        int leader = _activeController() ?? throw new InvalidOperationException("no active controller is known yet");
        if (leader == _localNodeId && _local is not null)
        {
            var header = new RequestHeader(request.ApiKey, ApiVersionsTable.All.TryGetRange(request.ApiKey, out var range) ? range.MaxVersion : (short)0, 0, "local");
            var response = await _local.HandleAsync(new DecodedRequest(header, request, ReadOnlyMemory<byte>.Empty), new ConnectionInfo(0, null), cancellationToken).ConfigureAwait(false);
            return (TResponse)response!;
        }
        var connection = await ConnectionAsync(leader, cancellationToken).ConfigureAwait(false);
        try
        {
            return await connection.SendAsync<TResponse>(request, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await DropAsync(connection).ConfigureAwait(false);
            throw;
        }
    }

    private async Task<KafkaConnection> ConnectionAsync(int leader, CancellationToken cancellationToken)
    {
        await _connectLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connection is { } current && current.NodeId == leader && current.Connection.IsAlive)
            {
                return current.Connection;
            }
            if (_connection is { } stale)
            {
                await stale.Connection.DisposeAsync().ConfigureAwait(false);
                _connection = null;
            }
            var address = _controllerAddress(leader) ?? throw new InvalidOperationException($"no controller address for node {leader}");
            var connection = await KafkaConnection.ConnectAsync(address.Host, address.Port, _options, cancellationToken).ConfigureAwait(false);
            _connection = (leader, connection);
            return connection;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    private async Task DropAsync(KafkaConnection connection)
    {
        await _connectLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_connection is { } current && ReferenceEquals(current.Connection, connection))
            {
                _connection = null;
            }
        }
        finally
        {
            _connectLock.Release();
        }
        await connection.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is { } current)
        {
            await current.Connection.DisposeAsync().ConfigureAwait(false);
        }
        _connectLock.Dispose();
    }
}

/// <summary>
/// On the broker listener: admin requests (CreateTopics, DeleteTopics, CreatePartitions, ElectLeaders, configs,
/// reassignments, DescribeQuorum) are forwarded to the active controller as they are; its answer goes back to the
/// client. While no controller is known (an election), the request waits up to <see cref="ControllerWait"/> for one;
/// when none appears, or the controller cannot be reached, the client gets Kafka's retriable NOT_CONTROLLER in the
/// request's own response shape (never a closed connection, which some clients treat as fatal for admin calls).
/// </summary>
public sealed class AdminForwardingHandler(ControllerChannel channel, Func<string, bool>? topicVisible = null) : IKafkaRequestHandler
{
    /// <summary>How long a successful CreateTopics waits for this broker's metadata to show the new topics.</summary>
    public TimeSpan PropagationWait { get; init; } = TimeSpan.FromSeconds(3);

    public static IReadOnlyList<ApiKey> ForwardedApis { get; } =
    [
        ApiKey.CreateTopics, ApiKey.DeleteTopics, ApiKey.CreatePartitions, ApiKey.ElectLeaders, ApiKey.IncrementalAlterConfigs,
        ApiKey.DescribeConfigs, ApiKey.AlterPartitionReassignments, ApiKey.ListPartitionReassignments, ApiKey.DescribeQuorum,
    ];

    public IKafkaRequestHandler? Next { get; set; }

    public async ValueTask<IResponseMessage?> HandleAsync(DecodedRequest request, ConnectionInfo connection, CancellationToken cancellationToken)
    {
        if (!ForwardedApis.Contains(request.Header.ApiKey))
        {
            return Next is not null
                ? await Next.HandleAsync(request, connection, cancellationToken).ConfigureAwait(false)
                : throw new NotSupportedException($"{request.Header.ApiKey} is not served by this node");
        }
        var deadline = DateTime.UtcNow + ControllerWait;
        while (channel.ActiveController is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(channel.RetryBackoff, cancellationToken).ConfigureAwait(false);
        }
        try
        {
            return await ForwardAsync(request.Message, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException and not NotSupportedException)
        {
            return NotControllerResponse(request.Message);
        }
    }

    /// <summary>How long a forwarded request waits for an active controller to become known.</summary>
    public TimeSpan ControllerWait { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>The answer to a forwarded request when no controller could take it: NOT_CONTROLLER for every item.</summary>
    public static IResponseMessage NotControllerResponse(IRequestMessage message)
    {
        const short code = (short)ErrorCode.NOT_CONTROLLER;
        const string text = "no active controller could be reached; retry";
        return message switch
        {
            CreateTopicsRequest m => new CreateTopicsResponse { Topics = m.Topics.Select(t => new CreateTopicsResponse.CreatableTopicResult { Name = t.Name, ErrorCode = code, ErrorMessage = text, NumPartitions = -1, ReplicationFactor = -1 }).ToList() },
            DeleteTopicsRequest m => new DeleteTopicsResponse
            {
                Responses = m.TopicNames.Select(n => new DeleteTopicsResponse.DeletableTopicResult { Name = n, ErrorCode = code, ErrorMessage = text })
                    .Concat(m.Topics.Select(t => new DeleteTopicsResponse.DeletableTopicResult { Name = t.Name, TopicId = t.TopicId, ErrorCode = code, ErrorMessage = text })).ToList(),
            },
            CreatePartitionsRequest m => new CreatePartitionsResponse { Results = m.Topics.Select(t => new CreatePartitionsResponse.CreatePartitionsTopicResult { Name = t.Name, ErrorCode = code, ErrorMessage = text }).ToList() },
            ElectLeadersRequest => new ElectLeadersResponse { ErrorCode = code, ReplicaElectionResults = [] },
            IncrementalAlterConfigsRequest m => new IncrementalAlterConfigsResponse { Responses = m.Resources.Select(r => new IncrementalAlterConfigsResponse.AlterConfigsResourceResponse { ResourceType = r.ResourceType, ResourceName = r.ResourceName, ErrorCode = code, ErrorMessage = text }).ToList() },
            DescribeConfigsRequest m => new DescribeConfigsResponse { Results = m.Resources.Select(r => new DescribeConfigsResponse.DescribeConfigsResult { ResourceType = r.ResourceType, ResourceName = r.ResourceName, ErrorCode = code, ErrorMessage = text, Configs = [] }).ToList() },
            AlterPartitionReassignmentsRequest => new AlterPartitionReassignmentsResponse { ErrorCode = code, ErrorMessage = text, Responses = [] },
            ListPartitionReassignmentsRequest => new ListPartitionReassignmentsResponse { ErrorCode = code, ErrorMessage = text, Topics = [] },
            DescribeQuorumRequest => new DescribeQuorumResponse
            {
                Topics = [new DescribeQuorumResponse.TopicData
                {
                    TopicName = "__cluster_metadata",
                    Partitions = [new DescribeQuorumResponse.PartitionData { PartitionIndex = 0, ErrorCode = (short)ErrorCode.NOT_LEADER_OR_FOLLOWER, LeaderId = -1, LeaderEpoch = -1, HighWatermark = -1, CurrentVoters = [], Observers = [] }],
                }],
            },
            _ => throw new NotSupportedException($"{message.ApiKey} cannot be forwarded"),
        };
    }

    private async Task<IResponseMessage> ForwardAsync(IRequestMessage message, CancellationToken cancellationToken)
    {
        return message switch
        {
            CreateTopicsRequest m => await CreateTopicsAsync(m, cancellationToken).ConfigureAwait(false),
            DeleteTopicsRequest m => await channel.SendAsync<DeleteTopicsResponse>(m, cancellationToken).ConfigureAwait(false),
            CreatePartitionsRequest m => await channel.SendAsync<CreatePartitionsResponse>(m, cancellationToken).ConfigureAwait(false),
            ElectLeadersRequest m => await channel.SendAsync<ElectLeadersResponse>(m, cancellationToken).ConfigureAwait(false),
            IncrementalAlterConfigsRequest m => await channel.SendAsync<IncrementalAlterConfigsResponse>(m, cancellationToken).ConfigureAwait(false),
            DescribeConfigsRequest m => await channel.SendAsync<DescribeConfigsResponse>(m, cancellationToken).ConfigureAwait(false),
            AlterPartitionReassignmentsRequest m => await channel.SendAsync<AlterPartitionReassignmentsResponse>(m, cancellationToken).ConfigureAwait(false),
            ListPartitionReassignmentsRequest m => await channel.SendAsync<ListPartitionReassignmentsResponse>(m, cancellationToken).ConfigureAwait(false),
            DescribeQuorumRequest m => await channel.SendAsync<DescribeQuorumResponse>(m, cancellationToken).ConfigureAwait(false),
            _ => throw new NotSupportedException($"{message.ApiKey} cannot be forwarded"),
        };
    }

    /// <summary>
    /// Forwards CreateTopics, then waits (bounded) until this broker's metadata shows the created topics, so a client
    /// that creates a topic and produces to it through this broker right away finds it.
    /// </summary>
    private async Task<CreateTopicsResponse> CreateTopicsAsync(CreateTopicsRequest request, CancellationToken cancellationToken)
    {
        var response = await channel.SendAsync<CreateTopicsResponse>(request, cancellationToken).ConfigureAwait(false);
        if (topicVisible is null || request.validateOnly)
        {
            return response;
        }
        var created = response.Topics.Where(t => t.ErrorCode == 0).Select(t => t.Name).ToList();
        var deadline = DateTime.UtcNow + PropagationWait;
        while (created.Any(t => !topicVisible(t)) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
        return response;
    }
}
