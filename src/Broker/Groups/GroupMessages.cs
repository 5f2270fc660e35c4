namespace Kraft.Broker.Groups;

// The coordinator's own request and response shapes. Field names and meanings follow Kafka's
// JoinGroup/SyncGroup/Heartbeat/LeaveGroup/OffsetCommit/OffsetFetch/ListGroups/DescribeGroups
// messages (clients/src/main/resources/common/message/*.json); the network layer maps wire
// messages of any supported version onto these. Byte arrays are owned by the coordinator once
// handed in: callers must not mutate them afterwards.

/// <summary>One protocol a joining member supports (e.g. "range" with its subscription metadata), in preference order.</summary>
public sealed record JoinGroupProtocol(string Name, byte[] Metadata);

/// <summary>JoinGroup. <see cref="ApiVersion"/> matters only for KIP-394: versions 4 and above get MEMBER_ID_REQUIRED first.</summary>
public sealed record JoinGroupRequest(
    string GroupId,
    int SessionTimeoutMs,
    int RebalanceTimeoutMs,
    string MemberId,
    string? GroupInstanceId,
    string ProtocolType,
    IReadOnlyList<JoinGroupProtocol> Protocols,
    short ApiVersion = 5,
    string ClientId = "",
    string ClientHost = "",
    string? Reason = null);

/// <summary>A member as the leader sees it in a JoinGroup response: its metadata for the selected protocol.</summary>
public sealed record JoinGroupResponseMember(string MemberId, string? GroupInstanceId, byte[] Metadata);

/// <summary>JoinGroup's answer. Members is non-empty only for the leader.</summary>
public sealed record JoinGroupResponse(
    GroupErrorCode ErrorCode,
    int GenerationId,
    string? ProtocolType,
    string? ProtocolName,
    string Leader,
    string MemberId,
    IReadOnlyList<JoinGroupResponseMember> Members)
{
    public static JoinGroupResponse Error(GroupErrorCode code, string memberId = "") =>
        new(code, -1, null, null, "", memberId, []);
}

/// <summary>One member's assignment as supplied by the leader in SyncGroup.</summary>
public sealed record SyncGroupAssignment(string MemberId, byte[] Assignment);

/// <summary>SyncGroup. ProtocolType/ProtocolName are checked when given (v5+); followers send no assignments.</summary>
public sealed record SyncGroupRequest(
    string GroupId,
    int GenerationId,
    string MemberId,
    string? GroupInstanceId,
    IReadOnlyList<SyncGroupAssignment> Assignments,
    string? ProtocolType = null,
    string? ProtocolName = null);

public sealed record SyncGroupResponse(GroupErrorCode ErrorCode, string? ProtocolType, string? ProtocolName, byte[] Assignment)
{
    public static SyncGroupResponse Error(GroupErrorCode code) => new(code, null, null, []);
}

public sealed record HeartbeatRequest(string GroupId, int GenerationId, string MemberId, string? GroupInstanceId = null);

/// <summary>One leaving member. Versions 0-2 carry a single member id; v3+ a batch of identities (KIP-345).</summary>
public sealed record LeaveGroupMember(string MemberId, string? GroupInstanceId = null, string? Reason = null);

public sealed record LeaveGroupRequest(string GroupId, IReadOnlyList<LeaveGroupMember> Members);

public sealed record LeaveGroupMemberResponse(string MemberId, string? GroupInstanceId, GroupErrorCode ErrorCode);

/// <summary>Top-level error for v0-2 clients is the first member's error when the top level is NONE.</summary>
public sealed record LeaveGroupResponse(GroupErrorCode ErrorCode, IReadOnlyList<LeaveGroupMemberResponse> Members);

public readonly record struct TopicPartition(string Topic, int Partition)
{
    public override string ToString() => $"{Topic}-{Partition}";
}

/// <summary>One partition's commit. LeaderEpoch -1 = unknown. Metadata null is stored as "".</summary>
public sealed record OffsetCommitPartition(string Topic, int Partition, long CommittedOffset, int CommittedLeaderEpoch = -1, string? Metadata = null);

/// <summary>OffsetCommit. GenerationId -1 with an empty member id is a "simple" commit by a non-member (allowed only for an Empty group).</summary>
public sealed record OffsetCommitRequest(
    string GroupId,
    int GenerationId,
    string MemberId,
    string? GroupInstanceId,
    IReadOnlyList<OffsetCommitPartition> Partitions);

public sealed record OffsetCommitPartitionResponse(string Topic, int Partition, GroupErrorCode ErrorCode);

public sealed record OffsetCommitResponse(IReadOnlyList<OffsetCommitPartitionResponse> Partitions);

/// <summary>OffsetFetch for one group. Partitions null = all the group's committed offsets (v2+).</summary>
public sealed record OffsetFetchRequest(string GroupId, IReadOnlyList<TopicPartition>? Partitions, bool RequireStable = false);

/// <summary>One fetched offset: -1 / -1 / "" when nothing is committed.</summary>
public sealed record OffsetFetchPartitionResponse(string Topic, int Partition, long CommittedOffset, int CommittedLeaderEpoch, string Metadata, GroupErrorCode ErrorCode);

public sealed record OffsetFetchResponse(GroupErrorCode ErrorCode, IReadOnlyList<OffsetFetchPartitionResponse> Partitions);

public sealed record ListedGroup(string GroupId, string ProtocolType, string GroupState);

/// <summary>A member in DescribeGroups. Metadata and assignment are filled only when the group is Stable (as in Kafka).</summary>
public sealed record DescribedGroupMember(string MemberId, string? GroupInstanceId, string ClientId, string ClientHost, byte[] MemberMetadata, byte[] MemberAssignment);

public sealed record DescribedGroup(
    GroupErrorCode ErrorCode,
    string GroupId,
    string GroupState,
    string ProtocolType,
    string ProtocolData,
    IReadOnlyList<DescribedGroupMember> Members);
