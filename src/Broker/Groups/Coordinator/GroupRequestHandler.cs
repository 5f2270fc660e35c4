using Kraft.Broker.Cluster;
using Kraft.Broker.Network;
using Kraft.Protocol;
using Kraft.Protocol.Framing;
using W = Kraft.Protocol.Messages;

namespace Kraft.Broker.Groups.Coordinator;

/// <summary>
/// On the broker listener: maps the group APIs (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
/// OffsetCommit, OffsetFetch, ListGroups, DescribeGroups) of every served version onto
/// <see cref="GroupCoordinatorService"/> and its answers back onto the wire, error codes unchanged. Other APIs go
/// to <see cref="Next"/>. Stateless; called concurrently from every connection.
/// </summary>
public sealed class GroupRequestHandler(GroupCoordinatorService service, Func<ClusterView> view) : IKafkaRequestHandler
{
    public static IReadOnlyList<ApiKey> ServedApis { get; } =
    [
        ApiKey.FindCoordinator, ApiKey.JoinGroup, ApiKey.SyncGroup, ApiKey.Heartbeat, ApiKey.LeaveGroup,
        ApiKey.OffsetCommit, ApiKey.OffsetFetch, ApiKey.ListGroups, ApiKey.DescribeGroups,
    ];

    public IKafkaRequestHandler? Next { get; set; }

    public async ValueTask<W.IResponseMessage?> HandleAsync(DecodedRequest request, ConnectionInfo connection, CancellationToken cancellationToken)
    {
        short version = request.Header.ApiVersion;
        string clientId = request.Header.ClientId ?? "";
        string clientHost = connection.Remote is System.Net.IPEndPoint ip ? "/" + ip.Address : "";
        return request.Message switch
        {
            W.FindCoordinatorRequest m => await FindCoordinatorAsync(m, version, cancellationToken).ConfigureAwait(false),
            W.JoinGroupRequest m => await JoinGroupAsync(m, version, clientId, clientHost, cancellationToken).ConfigureAwait(false),
            W.SyncGroupRequest m => await SyncGroupAsync(m, version, cancellationToken).ConfigureAwait(false),
            W.HeartbeatRequest m => new W.HeartbeatResponse
            {
                ErrorCode = (short)await service.HeartbeatAsync(new HeartbeatRequest(m.GroupId, m.GenerationId, m.MemberId, m.GroupInstanceId), cancellationToken).ConfigureAwait(false),
            },
            W.LeaveGroupRequest m => await LeaveGroupAsync(m, version, cancellationToken).ConfigureAwait(false),
            W.OffsetCommitRequest m => await OffsetCommitAsync(m, cancellationToken).ConfigureAwait(false),
            W.OffsetFetchRequest m => await OffsetFetchAsync(m, version, cancellationToken).ConfigureAwait(false),
            W.ListGroupsRequest m => await ListGroupsAsync(m, cancellationToken).ConfigureAwait(false),
            W.DescribeGroupsRequest m => await DescribeGroupsAsync(m, cancellationToken).ConfigureAwait(false),
            _ when Next is not null => await Next.HandleAsync(request, connection, cancellationToken).ConfigureAwait(false),
            _ => throw new NotSupportedException($"{request.Header.ApiKey} is not served by this node"),
        };
    }

    private async Task<W.FindCoordinatorResponse> FindCoordinatorAsync(W.FindCoordinatorRequest m, short version, CancellationToken cancellationToken)
    {
        // v4 (KIP-699) batches keys; older versions carry one key.
        var keys = version >= 4 ? m.CoordinatorKeys : [m.Key];
        var response = new W.FindCoordinatorResponse { Coordinators = [] };
        foreach (string key in keys)
        {
            var answer = m.KeyType == 0
                ? await service.FindCoordinatorAsync(key, cancellationToken).ConfigureAwait(false)
                // Transactions (key type 1) have no coordinator here yet.
                : new CoordinatorLookup(GroupErrorCode.INVALID_REQUEST, -1, "", -1);
            response.Coordinators.Add(new W.FindCoordinatorResponse.Coordinator
            {
                Key = key,
                NodeId = answer.NodeId,
                Host = answer.Host,
                Port = answer.Port,
                ErrorCode = (short)answer.Error,
                ErrorMessage = answer.Error == GroupErrorCode.NONE ? null : answer.Error.ToString(),
            });
        }
        if (version < 4 && response.Coordinators.Count > 0)
        {
            var single = response.Coordinators[0];
            response.ErrorCode = single.ErrorCode;
            response.ErrorMessage = single.ErrorMessage;
            response.NodeId = single.NodeId;
            response.Host = single.Host;
            response.Port = single.Port;
        }
        return response;
    }

    private async Task<W.JoinGroupResponse> JoinGroupAsync(W.JoinGroupRequest m, short version, string clientId, string clientHost, CancellationToken cancellationToken)
    {
        // v0 has no rebalance timeout: Kafka uses the session timeout in its place.
        int rebalanceTimeoutMs = version == 0 || m.RebalanceTimeoutMs < 0 ? m.SessionTimeoutMs : m.RebalanceTimeoutMs;
        var request = new JoinGroupRequest(m.GroupId, m.SessionTimeoutMs, rebalanceTimeoutMs, m.MemberId, m.GroupInstanceId, m.ProtocolType,
            m.Protocols.Select(p => new JoinGroupProtocol(p.Name, p.Metadata.ToArray())).ToList(), version, clientId, clientHost);
        var r = await service.JoinGroupAsync(request, cancellationToken).ConfigureAwait(false);
        return new W.JoinGroupResponse
        {
            ErrorCode = (short)r.ErrorCode,
            GenerationId = r.GenerationId,
            ProtocolType = r.ProtocolType,
            // Before v7 the protocol name is not nullable: Kafka sends "" when there is none.
            ProtocolName = version >= 7 ? r.ProtocolName : r.ProtocolName ?? "",
            Leader = r.Leader,
            MemberId = r.MemberId,
            Members = r.Members.Select(x => new W.JoinGroupResponse.JoinGroupResponseMember { MemberId = x.MemberId, GroupInstanceId = x.GroupInstanceId, Metadata = x.Metadata }).ToList(),
        };
    }

    private async Task<W.SyncGroupResponse> SyncGroupAsync(W.SyncGroupRequest m, short version, CancellationToken cancellationToken)
    {
        var request = new SyncGroupRequest(m.GroupId, m.GenerationId, m.MemberId, m.GroupInstanceId,
            m.Assignments.Select(a => new SyncGroupAssignment(a.MemberId, a.Assignment.ToArray())).ToList(),
            version >= 5 ? m.ProtocolType : null, version >= 5 ? m.ProtocolName : null);
        var r = await service.SyncGroupAsync(request, cancellationToken).ConfigureAwait(false);
        return new W.SyncGroupResponse { ErrorCode = (short)r.ErrorCode, ProtocolType = r.ProtocolType, ProtocolName = r.ProtocolName, Assignment = r.Assignment };
    }

    private async Task<W.LeaveGroupResponse> LeaveGroupAsync(W.LeaveGroupRequest m, short version, CancellationToken cancellationToken)
    {
        // v0-2 carry one member id; v3+ a batch of identities (KIP-345).
        var members = version >= 3
            ? m.Members.Select(x => new LeaveGroupMember(x.MemberId, x.GroupInstanceId)).ToList()
            : [new LeaveGroupMember(m.MemberId)];
        var r = await service.LeaveGroupAsync(new LeaveGroupRequest(m.GroupId, members), cancellationToken).ConfigureAwait(false);
        var response = new W.LeaveGroupResponse
        {
            ErrorCode = (short)r.ErrorCode,
            Members = r.Members.Select(x => new W.LeaveGroupResponse.MemberResponse { MemberId = x.MemberId, GroupInstanceId = x.GroupInstanceId, ErrorCode = (short)x.ErrorCode }).ToList(),
        };
        if (version < 3 && response.ErrorCode == 0 && r.Members.Count > 0)
        {
            // Without per-member results the member's own error is the answer.
            response.ErrorCode = (short)r.Members[0].ErrorCode;
        }
        return response;
    }

    private async Task<W.OffsetCommitResponse> OffsetCommitAsync(W.OffsetCommitRequest m, CancellationToken cancellationToken)
    {
        var current = view();
        var known = new List<OffsetCommitPartition>();
        var unknown = new List<OffsetCommitPartitionResponse>();
        foreach (var topic in m.Topics)
        {
            bool exists = current.Topics.TryGetValue(topic.Name, out var info);
            foreach (var p in topic.Partitions)
            {
                // As Kafka: a commit for a partition the cluster does not have is refused for that partition only.
                if (exists && info!.Partitions.Any(x => x.Partition == p.PartitionIndex))
                {
                    known.Add(new OffsetCommitPartition(topic.Name, p.PartitionIndex, p.CommittedOffset, p.CommittedLeaderEpoch, p.CommittedMetadata));
                }
                else
                {
                    unknown.Add(new OffsetCommitPartitionResponse(topic.Name, p.PartitionIndex, GroupErrorCode.UNKNOWN_TOPIC_OR_PARTITION));
                }
            }
        }
        IReadOnlyList<OffsetCommitPartitionResponse> results = unknown;
        if (known.Count > 0)
        {
            var r = await service.CommitOffsetsAsync(new OffsetCommitRequest(m.GroupId, m.GenerationIdOrMemberEpoch, m.MemberId, m.GroupInstanceId, known), cancellationToken).ConfigureAwait(false);
            results = [.. r.Partitions, .. unknown];
        }
        return new W.OffsetCommitResponse
        {
            Topics = results.GroupBy(p => p.Topic).Select(t => new W.OffsetCommitResponse.OffsetCommitResponseTopic
            {
                Name = t.Key,
                Partitions = t.Select(p => new W.OffsetCommitResponse.OffsetCommitResponsePartition { PartitionIndex = p.Partition, ErrorCode = (short)p.ErrorCode }).ToList(),
            }).ToList(),
        };
    }

    private async Task<W.OffsetFetchResponse> OffsetFetchAsync(W.OffsetFetchRequest m, short version, CancellationToken cancellationToken)
    {
        if (version >= 8)
        {
            // KIP-709: one request, many groups, each answered (or refused) on its own.
            var response = new W.OffsetFetchResponse { Groups = [] };
            foreach (var group in m.Groups)
            {
                var partitions = group.Topics?.SelectMany(t => t.PartitionIndexes.Select(p => new TopicPartition(t.Name, p))).ToList();
                var r = await service.FetchOffsetsAsync(new OffsetFetchRequest(group.GroupId, partitions, m.RequireStable), cancellationToken).ConfigureAwait(false);
                response.Groups.Add(new W.OffsetFetchResponse.OffsetFetchResponseGroup
                {
                    GroupId = group.GroupId,
                    ErrorCode = (short)r.ErrorCode,
                    Topics = r.Partitions.GroupBy(p => p.Topic).Select(t => new W.OffsetFetchResponse.OffsetFetchResponseTopics
                    {
                        Name = t.Key,
                        Partitions = t.Select(p => new W.OffsetFetchResponse.OffsetFetchResponsePartitions
                        {
                            PartitionIndex = p.Partition,
                            CommittedOffset = p.CommittedOffset,
                            CommittedLeaderEpoch = p.CommittedLeaderEpoch,
                            Metadata = p.Metadata,
                            ErrorCode = (short)p.ErrorCode,
                        }).ToList(),
                    }).ToList(),
                });
            }
            return response;
        }
        var wanted = m.Topics?.SelectMany(t => t.PartitionIndexes.Select(p => new TopicPartition(t.Name, p))).ToList();
        var result = await service.FetchOffsetsAsync(new OffsetFetchRequest(m.GroupId, wanted, version >= 7 && m.RequireStable), cancellationToken).ConfigureAwait(false);
        var partitionsOut = result.Partitions;
        if (result.ErrorCode != GroupErrorCode.NONE && version < 2 && wanted is not null)
        {
            // v1 has no top-level error: each requested partition carries it.
            partitionsOut = wanted.Select(tp => new OffsetFetchPartitionResponse(tp.Topic, tp.Partition, -1, -1, "", result.ErrorCode)).ToList();
        }
        return new W.OffsetFetchResponse
        {
            ErrorCode = (short)result.ErrorCode,
            Topics = partitionsOut.GroupBy(p => p.Topic).Select(t => new W.OffsetFetchResponse.OffsetFetchResponseTopic
            {
                Name = t.Key,
                Partitions = t.Select(p => new W.OffsetFetchResponse.OffsetFetchResponsePartition
                {
                    PartitionIndex = p.Partition,
                    CommittedOffset = p.CommittedOffset,
                    CommittedLeaderEpoch = p.CommittedLeaderEpoch,
                    Metadata = p.Metadata,
                    ErrorCode = (short)p.ErrorCode,
                }).ToList(),
            }).ToList(),
        };
    }

    private async Task<W.ListGroupsResponse> ListGroupsAsync(W.ListGroupsRequest m, CancellationToken cancellationToken)
    {
        var (error, groups) = await service.ListGroupsAsync(m.StatesFilter, cancellationToken).ConfigureAwait(false);
        return new W.ListGroupsResponse
        {
            ErrorCode = (short)error,
            Groups = groups.OrderBy(g => g.GroupId, StringComparer.Ordinal)
                .Select(g => new W.ListGroupsResponse.ListedGroup { GroupId = g.GroupId, ProtocolType = g.ProtocolType, GroupState = g.GroupState }).ToList(),
        };
    }

    private async Task<W.DescribeGroupsResponse> DescribeGroupsAsync(W.DescribeGroupsRequest m, CancellationToken cancellationToken)
    {
        var response = new W.DescribeGroupsResponse { Groups = [] };
        foreach (string groupId in m.Groups)
        {
            var g = await service.DescribeGroupAsync(groupId, cancellationToken).ConfigureAwait(false);
            response.Groups.Add(new W.DescribeGroupsResponse.DescribedGroup
            {
                ErrorCode = (short)g.ErrorCode,
                GroupId = g.GroupId,
                GroupState = g.GroupState,
                ProtocolType = g.ProtocolType,
                ProtocolData = g.ProtocolData,
                Members = g.Members.Select(x => new W.DescribeGroupsResponse.DescribedGroupMember
                {
                    MemberId = x.MemberId,
                    GroupInstanceId = x.GroupInstanceId,
                    ClientId = x.ClientId,
                    ClientHost = x.ClientHost,
                    MemberMetadata = x.MemberMetadata,
                    MemberAssignment = x.MemberAssignment,
                }).ToList(),
            });
        }
        return response;
    }
}
