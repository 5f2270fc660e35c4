using Kraft.Broker.Network;
using Kraft.Protocol;
using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;
using Kraft.Quorum.Metadata;
using Kraft.Quorum.Raft;
using QC = Kraft.Quorum.Controller;

namespace Kraft.Broker.Controller;

/// <summary>
/// Serves the controller listener: broker lifecycle RPCs (BrokerRegistration, BrokerHeartbeat, AlterPartition) and
/// the admin APIs that brokers forward (CreateTopics, DeleteTopics, CreatePartitions, ElectLeaders,
/// IncrementalAlterConfigs, DescribeConfigs, AlterPartitionReassignments, ListPartitionReassignments), plus
/// DescribeQuorum. It maps Kafka's wire messages onto the pure controller's requests and back; a node that is not
/// the active controller answers NOT_CONTROLLER so the sender finds the leader and retries.
/// Thread-safety: stateless; the <see cref="ControllerService"/> serializes writes.
/// </summary>
public sealed class ControllerRequestHandler : IKafkaRequestHandler
{
    private const short NotController = (short)ErrorCode.NOT_CONTROLLER;
    private readonly ControllerService _service;
    private readonly Func<CancellationToken, Task<QuorumDescription?>> _describeQuorum;

    public ControllerRequestHandler(ControllerService service, Func<CancellationToken, Task<QuorumDescription?>> describeQuorum)
    {
        _service = service;
        _describeQuorum = describeQuorum;
    }

    public static IReadOnlyList<ApiKey> ServedApis { get; } =
    [
        ApiKey.ApiVersions, ApiKey.BrokerRegistration, ApiKey.BrokerHeartbeat, ApiKey.AlterPartition, ApiKey.CreateTopics,
        ApiKey.DeleteTopics, ApiKey.CreatePartitions, ApiKey.ElectLeaders, ApiKey.IncrementalAlterConfigs, ApiKey.DescribeConfigs,
        ApiKey.AlterPartitionReassignments, ApiKey.ListPartitionReassignments, ApiKey.DescribeQuorum, ApiKey.DescribeCluster,
        ApiKey.AllocateProducerIds,
    ];

    /// <summary>The controllers (id, host, port of their controller listener), for DescribeCluster with EndpointType 2 (KIP-919).</summary>
    public IReadOnlyList<(int Id, string Host, int Port)> ControllerEndpoints { get; init; } = [];

    /// <summary>The cluster id returned by DescribeCluster.</summary>
    public string ClusterId { get; init; } = "";

    /// <summary>The active controller's id as this node sees it (-1 unknown), for DescribeCluster.</summary>
    public Func<int> ActiveControllerId { get; init; } = () => -1;

    public ApiVersionsTable Apis { get; } = Handlers.DataPlaneHandler.Served(ApiVersionsTable.All, ServedApis);

    public async ValueTask<IResponseMessage?> HandleAsync(DecodedRequest request, ConnectionInfo connection, CancellationToken cancellationToken) =>
        request.Message switch
        {
            ApiVersionsRequest => Apis.CreateResponse(),
            BrokerRegistrationRequest m => await RegisterAsync(m, cancellationToken).ConfigureAwait(false),
            BrokerHeartbeatRequest m => await HeartbeatAsync(m, cancellationToken).ConfigureAwait(false),
            AlterPartitionRequest m => await AlterPartitionAsync(m, cancellationToken).ConfigureAwait(false),
            CreateTopicsRequest m => await CreateTopicsAsync(m, cancellationToken).ConfigureAwait(false),
            DeleteTopicsRequest m => await DeleteTopicsAsync(m, cancellationToken).ConfigureAwait(false),
            CreatePartitionsRequest m => await CreatePartitionsAsync(m, cancellationToken).ConfigureAwait(false),
            ElectLeadersRequest m => await ElectLeadersAsync(m, cancellationToken).ConfigureAwait(false),
            IncrementalAlterConfigsRequest m => await AlterConfigsAsync(m, cancellationToken).ConfigureAwait(false),
            DescribeConfigsRequest m => await DescribeConfigsAsync(m, cancellationToken).ConfigureAwait(false),
            AlterPartitionReassignmentsRequest m => await ReassignAsync(m, cancellationToken).ConfigureAwait(false),
            ListPartitionReassignmentsRequest m => await ListReassignmentsAsync(m, cancellationToken).ConfigureAwait(false),
            DescribeQuorumRequest m => await DescribeQuorumAsync(m, cancellationToken).ConfigureAwait(false),
            DescribeClusterRequest m => DescribeCluster(m),
            AllocateProducerIdsRequest m => await AllocateProducerIdsAsync(m, cancellationToken).ConfigureAwait(false),
            _ => throw new NotSupportedException($"{request.Header.ApiKey} is not served on the controller listener"),
        };

    private static short Code(QC.ApiError error) => (short)error.Code;

    /// <summary>
    /// DescribeCluster on the controller listener (KIP-919): the controllers and their controller listeners, so that
    /// a node that only knows some controller addresses (controller.quorum.bootstrap.servers) can learn the voters.
    /// Asking a controller for brokers (EndpointType 1) is the wrong endpoint, as in Kafka.
    /// </summary>
    private DescribeClusterResponse DescribeCluster(DescribeClusterRequest m)
    {
        const sbyte ControllerEndpoint = 2;
        if (m.EndpointType != ControllerEndpoint)
        {
            return new DescribeClusterResponse
            {
                ErrorCode = (short)ErrorCode.MISMATCHED_ENDPOINT_TYPE,
                ErrorMessage = "The request was sent to an endpoint of type CONTROLLER, but we wanted an endpoint of type BROKER",
                EndpointType = m.EndpointType,
                ClusterId = ClusterId,
                Brokers = [],
            };
        }
        return new DescribeClusterResponse
        {
            EndpointType = ControllerEndpoint,
            ClusterId = ClusterId,
            ControllerId = ActiveControllerId(),
            Brokers = ControllerEndpoints.OrderBy(c => c.Id)
                .Select(c => new DescribeClusterResponse.DescribeClusterBroker { BrokerId = c.Id, Host = c.Host, Port = c.Port, Rack = null }).ToList(),
        };
    }

    private async Task<BrokerRegistrationResponse> RegisterAsync(BrokerRegistrationRequest m, CancellationToken ct)
    {
        var request = new QC.BrokerRegistrationRequest(new BrokerId(m.BrokerId), m.IncarnationId,
            m.Listeners.Select(l => new BrokerEndpoint(l.Name, l.Host, l.Port, (SecurityProtocol)l.SecurityProtocol)).ToList(), m.Rack);
        var reply = await _service.ExecuteAsync((c, now) => c.RegisterBroker(request, now), ct).ConfigureAwait(false);
        return reply is null
            ? new BrokerRegistrationResponse { ErrorCode = NotController, BrokerEpoch = -1 }
            : new BrokerRegistrationResponse { ErrorCode = Code(reply.Error), BrokerEpoch = reply.BrokerEpoch };
    }

    private async Task<AllocateProducerIdsResponse> AllocateProducerIdsAsync(AllocateProducerIdsRequest m, CancellationToken ct)
    {
        var request = new QC.AllocateProducerIdsRequest(new BrokerId(m.BrokerId), m.BrokerEpoch);
        var reply = await _service.ExecuteAsync((c, now) => c.AllocateProducerIds(request, now), ct).ConfigureAwait(false);
        return reply is null
            ? new AllocateProducerIdsResponse { ErrorCode = NotController, ProducerIdStart = -1 }
            : new AllocateProducerIdsResponse { ErrorCode = Code(reply.Error), ProducerIdStart = reply.ProducerIdStart, ProducerIdLen = reply.ProducerIdLen };
    }

    private async Task<BrokerHeartbeatResponse> HeartbeatAsync(BrokerHeartbeatRequest m, CancellationToken ct)
    {
        var request = new QC.BrokerHeartbeatRequest(new BrokerId(m.BrokerId), m.BrokerEpoch, m.CurrentMetadataOffset, m.WantFence, m.WantShutDown);
        var reply = await _service.ExecuteAsync((c, now) => c.BrokerHeartbeat(request, now), ct).ConfigureAwait(false);
        return reply is null
            ? new BrokerHeartbeatResponse { ErrorCode = NotController, IsFenced = true }
            : new BrokerHeartbeatResponse { ErrorCode = Code(reply.Error), IsCaughtUp = reply.IsCaughtUp, IsFenced = reply.IsFenced, ShouldShutDown = reply.ShouldShutDown };
    }

    private async Task<AlterPartitionResponse> AlterPartitionAsync(AlterPartitionRequest m, CancellationToken ct)
    {
        var image = _service.Publisher.Image;
        var items = new List<QC.AlterPartitionItem>();
        foreach (var topic in m.Topics)
        {
            var id = topic.TopicId != Guid.Empty ? new TopicId(topic.TopicId) : image.Topic(topic.TopicName)?.Id ?? new TopicId(Guid.Empty);
            items.AddRange(topic.Partitions.Select(p => new QC.AlterPartitionItem(id, p.PartitionIndex, p.LeaderEpoch, p.NewIsr.Select(b => new BrokerId(b)).ToList(), p.PartitionEpoch)));
        }
        var request = new QC.AlterPartitionRequest(new BrokerId(m.BrokerId), m.BrokerEpoch, items);
        var reply = await _service.ExecuteAsync((c, now) => c.AlterPartition(request, now), ct).ConfigureAwait(false);
        if (reply is null)
        {
            return new AlterPartitionResponse { ErrorCode = NotController, Topics = [] };
        }
        var response = new AlterPartitionResponse { ErrorCode = Code(reply.Error), Topics = [] };
        foreach (var group in reply.Partitions.GroupBy(p => p.TopicId))
        {
            response.Topics.Add(new AlterPartitionResponse.TopicData
            {
                TopicId = group.Key.Value,
                TopicName = image.Topic(group.Key)?.Name ?? "",
                Partitions = group.Select(p => new AlterPartitionResponse.PartitionData
                {
                    PartitionIndex = p.PartitionIndex,
                    ErrorCode = Code(p.Error),
                    LeaderId = p.Leader.Value,
                    LeaderEpoch = p.LeaderEpoch,
                    Isr = p.Isr.Select(b => b.Value).ToList(),
                    PartitionEpoch = p.PartitionEpoch,
                }).ToList(),
            });
        }
        return response;
    }

    private async Task<CreateTopicsResponse> CreateTopicsAsync(CreateTopicsRequest m, CancellationToken ct)
    {
        var topics = m.Topics.Select(t => new QC.CreatableTopic(
            t.Name,
            t.NumPartitions,
            t.ReplicationFactor,
            t.Configs.Count == 0 ? null : t.Configs.ToDictionary(c => c.Name, c => c.Value),
            t.Assignments.Count == 0 ? null : t.Assignments.OrderBy(a => a.PartitionIndex).Select(a => (IReadOnlyList<BrokerId>)a.BrokerIds.Select(b => new BrokerId(b)).ToList()).ToList())).ToList();
        var results = await _service.ExecuteAsync((c, now) => c.CreateTopics(new QC.CreateTopicsRequest(topics, m.validateOnly), now), ct, linearizable: true).ConfigureAwait(false);
        return new CreateTopicsResponse
        {
            Topics = results is null
                ? m.Topics.Select(t => new CreateTopicsResponse.CreatableTopicResult { Name = t.Name, ErrorCode = NotController, ErrorMessage = "not the active controller", NumPartitions = -1, ReplicationFactor = -1 }).ToList()
                : results.Select(r => new CreateTopicsResponse.CreatableTopicResult
                {
                    Name = r.Name,
                    TopicId = r.TopicId.Value,
                    ErrorCode = Code(r.Error),
                    ErrorMessage = r.Error.Message,
                    NumPartitions = r.NumPartitions,
                    ReplicationFactor = r.ReplicationFactor,
                }).ToList(),
        };
    }

    private async Task<DeleteTopicsResponse> DeleteTopicsAsync(DeleteTopicsRequest m, CancellationToken ct)
    {
        var names = m.TopicNames.Concat(m.Topics.Where(t => t.Name is not null).Select(t => t.Name!)).ToList();
        var ids = m.Topics.Where(t => t.Name is null && t.TopicId != Guid.Empty).Select(t => new TopicId(t.TopicId)).ToList();
        var results = await _service.ExecuteAsync((c, now) => c.DeleteTopics(new QC.DeleteTopicsRequest(names, ids), now), ct, linearizable: true).ConfigureAwait(false);
        return new DeleteTopicsResponse
        {
            Responses = results is null
                ? names.Select(n => new DeleteTopicsResponse.DeletableTopicResult { Name = n, ErrorCode = NotController }).ToList()
                : results.Select(r => new DeleteTopicsResponse.DeletableTopicResult { Name = r.Name, TopicId = r.TopicId.Value, ErrorCode = Code(r.Error), ErrorMessage = r.Error.Message }).ToList(),
        };
    }

    private async Task<CreatePartitionsResponse> CreatePartitionsAsync(CreatePartitionsRequest m, CancellationToken ct)
    {
        var request = new QC.CreatePartitionsRequest(m.Topics.Select(t => new QC.CreatePartitionsTopic(t.Name, t.Count)).ToList(), m.ValidateOnly);
        var results = await _service.ExecuteAsync((c, now) => c.CreatePartitions(request, now), ct, linearizable: true).ConfigureAwait(false);
        return new CreatePartitionsResponse
        {
            Results = results is null
                ? m.Topics.Select(t => new CreatePartitionsResponse.CreatePartitionsTopicResult { Name = t.Name, ErrorCode = NotController }).ToList()
                : results.Select(r => new CreatePartitionsResponse.CreatePartitionsTopicResult { Name = r.Name, ErrorCode = Code(r.Error), ErrorMessage = r.Error.Message }).ToList(),
        };
    }

    private async Task<ElectLeadersResponse> ElectLeadersAsync(ElectLeadersRequest m, CancellationToken ct)
    {
        var partitions = m.TopicPartitions?.SelectMany(t => t.Partitions.Select(p => new QC.TopicPartitionName(t.Topic, p))).ToList();
        var request = new QC.ElectLeadersRequest((QC.ElectionType)m.ElectionType, partitions);
        var results = await _service.ExecuteAsync((c, now) => c.ElectLeaders(request, now), ct, linearizable: true).ConfigureAwait(false);
        if (results is null)
        {
            return new ElectLeadersResponse { ErrorCode = NotController, ReplicaElectionResults = [] };
        }
        return new ElectLeadersResponse
        {
            ReplicaElectionResults = results.GroupBy(r => r.Partition.Topic).Select(g => new ElectLeadersResponse.ReplicaElectionResult
            {
                Topic = g.Key,
                PartitionResult = g.Select(r => new ElectLeadersResponse.PartitionResult { PartitionId = r.Partition.Partition, ErrorCode = Code(r.Error), ErrorMessage = r.Error.Message }).ToList(),
            }).ToList(),
        };
    }

    private static ConfigResource Resource(sbyte type, string name) =>
        new((ConfigResourceType)type, name);

    private async Task<IncrementalAlterConfigsResponse> AlterConfigsAsync(IncrementalAlterConfigsRequest m, CancellationToken ct)
    {
        var resources = m.Resources.Select(r => new QC.AlterConfigsResource(Resource(r.ResourceType, r.ResourceName),
            r.Configs.Select(c => new QC.AlterableConfig(c.Name, (QC.AlterConfigOp)c.ConfigOperation, c.Value)).ToList())).ToList();
        var results = await _service.ExecuteAsync((c, now) => c.IncrementalAlterConfigs(new QC.IncrementalAlterConfigsRequest(resources, m.ValidateOnly), now), ct, linearizable: true).ConfigureAwait(false);
        return new IncrementalAlterConfigsResponse
        {
            Responses = results is null
                ? m.Resources.Select(r => new IncrementalAlterConfigsResponse.AlterConfigsResourceResponse { ResourceType = r.ResourceType, ResourceName = r.ResourceName, ErrorCode = NotController }).ToList()
                : results.Select(r => new IncrementalAlterConfigsResponse.AlterConfigsResourceResponse
                {
                    ResourceType = (sbyte)r.Resource.Type,
                    ResourceName = r.Resource.Name,
                    ErrorCode = Code(r.Error),
                    ErrorMessage = r.Error.Message,
                }).ToList(),
        };
    }

    private async Task<DescribeConfigsResponse> DescribeConfigsAsync(DescribeConfigsRequest m, CancellationToken ct)
    {
        var resources = m.Resources.Select(r => new QC.DescribeConfigsResource(Resource(r.ResourceType, r.ResourceName), r.ConfigurationKeys)).ToList();
        var results = await _service.ExecuteAsync((c, now) => c.DescribeConfigs(resources), ct, linearizable: true).ConfigureAwait(false);
        return new DescribeConfigsResponse
        {
            Results = results is null
                ? m.Resources.Select(r => new DescribeConfigsResponse.DescribeConfigsResult { ResourceType = r.ResourceType, ResourceName = r.ResourceName, ErrorCode = NotController, Configs = [] }).ToList()
                : results.Select(r => new DescribeConfigsResponse.DescribeConfigsResult
                {
                    ResourceType = (sbyte)r.Resource.Type,
                    ResourceName = r.Resource.Name,
                    ErrorCode = Code(r.Error),
                    ErrorMessage = r.Error.Message,
                    Configs = r.Configs.Select(c => new DescribeConfigsResponse.DescribeConfigsResourceResult
                    {
                        Name = c.Name,
                        Value = c.Value,
                        ReadOnly = c.ReadOnly,
                        IsDefault = c.IsDefault,
                        ConfigSource = (sbyte)c.Source,
                        IsSensitive = c.IsSensitive,
                        Synonyms = [],
                        ConfigType = (sbyte)c.Type,
                    }).ToList(),
                }).ToList(),
        };
    }

    private async Task<AlterPartitionReassignmentsResponse> ReassignAsync(AlterPartitionReassignmentsRequest m, CancellationToken ct)
    {
        var targets = m.Topics.SelectMany(t => t.Partitions.Select(p => new QC.ReassignmentTarget(new QC.TopicPartitionName(t.Name, p.PartitionIndex),
            p.Replicas?.Select(b => new BrokerId(b)).ToList()))).ToList();
        var results = await _service.ExecuteAsync((c, now) => c.AlterPartitionReassignments(targets, now), ct, linearizable: true).ConfigureAwait(false);
        if (results is null)
        {
            return new AlterPartitionReassignmentsResponse { ErrorCode = NotController, ErrorMessage = "not the active controller", Responses = [] };
        }
        return new AlterPartitionReassignmentsResponse
        {
            Responses = results.GroupBy(r => r.Partition.Topic).Select(g => new AlterPartitionReassignmentsResponse.ReassignableTopicResponse
            {
                Name = g.Key,
                Partitions = g.Select(r => new AlterPartitionReassignmentsResponse.ReassignablePartitionResponse { PartitionIndex = r.Partition.Partition, ErrorCode = Code(r.Error), ErrorMessage = r.Error.Message }).ToList(),
            }).ToList(),
        };
    }

    private async Task<ListPartitionReassignmentsResponse> ListReassignmentsAsync(ListPartitionReassignmentsRequest m, CancellationToken ct)
    {
        var partitions = m.Topics?.SelectMany(t => t.PartitionIndexes.Select(p => new QC.TopicPartitionName(t.Name, p))).ToList();
        var results = await _service.ExecuteAsync((c, now) => c.ListPartitionReassignments(partitions), ct, linearizable: true).ConfigureAwait(false);
        if (results is null)
        {
            return new ListPartitionReassignmentsResponse { ErrorCode = NotController, Topics = [] };
        }
        return new ListPartitionReassignmentsResponse
        {
            Topics = results.GroupBy(r => r.Partition.Topic).Select(g => new ListPartitionReassignmentsResponse.OngoingTopicReassignment
            {
                Name = g.Key,
                Partitions = g.Select(r => new ListPartitionReassignmentsResponse.OngoingPartitionReassignment
                {
                    PartitionIndex = r.Partition.Partition,
                    Replicas = r.Replicas.Select(b => b.Value).ToList(),
                    AddingReplicas = r.AddingReplicas.Select(b => b.Value).ToList(),
                    RemovingReplicas = r.RemovingReplicas.Select(b => b.Value).ToList(),
                }).ToList(),
            }).ToList(),
        };
    }

    private async Task<DescribeQuorumResponse> DescribeQuorumAsync(DescribeQuorumRequest m, CancellationToken ct)
    {
        var description = await _describeQuorum(ct).ConfigureAwait(false);
        var partition = description is null
            ? new DescribeQuorumResponse.PartitionData { PartitionIndex = 0, ErrorCode = (short)ErrorCode.NOT_LEADER_OR_FOLLOWER, LeaderId = -1, LeaderEpoch = -1, HighWatermark = -1, CurrentVoters = [], Observers = [] }
            : new DescribeQuorumResponse.PartitionData
            {
                PartitionIndex = 0,
                LeaderId = description.LeaderId.Value,
                LeaderEpoch = description.LeaderEpoch,
                HighWatermark = description.HighWatermark,
                CurrentVoters = description.CurrentVoters.Select(Replica).ToList(),
                Observers = description.Observers.Select(Replica).ToList(),
            };
        return new DescribeQuorumResponse { Topics = [new DescribeQuorumResponse.TopicData { TopicName = "__cluster_metadata", Partitions = [partition] }] };

        static DescribeQuorumResponse.ReplicaState Replica(ReplicaDescription r) => new()
        {
            ReplicaId = r.ReplicaId.Value,
            LogEndOffset = r.LogEndOffset,
            LastFetchTimestamp = r.LastFetchTimestampMs,
            LastCaughtUpTimestamp = r.LastCaughtUpTimestampMs,
        };
    }
}
