using Kraft.Protocol.Messages;
using Kraft.Protocol.Primitives;

using static Kraft.Protocol.Tests.GoldenBytes;

namespace Kraft.Protocol.Tests;

/// <summary>Hand-worked encodings for the group, config, reassignment and controller APIs.</summary>
public class GoldenBytesMoreTests
{
    private const string UuidHex = "00112233445566778899aabbccddeeff";
    private static readonly Guid Id = new(Convert.FromHexString(UuidHex), bigEndian: true);

    [Fact]
    public void JoinGroup_v0_request_and_v7_response()
    {
        byte[] meta = [9, 9];
        AssertGolden(
            new JoinGroupRequest { GroupId = "g", SessionTimeoutMs = 10000, MemberId = "", ProtocolType = "consumer", Protocols = [new() { Name = "range", Metadata = meta }] },
            0,
            new Bytes().Str("g").I32(10000).Str("").Str("consumer").Arr(1).Str("range").Blob(meta));
        AssertGolden(
            new JoinGroupResponse
            {
                ThrottleTimeMs = 0, ErrorCode = 0, GenerationId = 1, ProtocolType = "consumer", ProtocolName = "range",
                Leader = "m1", MemberId = "m1", Members = [new() { MemberId = "m1", GroupInstanceId = null, Metadata = meta }],
            },
            7,
            new Bytes().I32(0).I16(0).I32(1).CStr("consumer").CStr("range").CStr("m1").CStr("m1")
                .CArr(1).CStr("m1").CStr(null).CBlob(meta).NoTags().NoTags());
    }

    [Fact]
    public void DescribeGroups_v0_request_and_v5_response()
    {
        AssertGolden(new DescribeGroupsRequest { Groups = ["g"] }, 0, new Bytes().Arr(1).Str("g"));
        AssertGolden(
            new DescribeGroupsResponse
            {
                Groups =
                [
                    new()
                    {
                        ErrorCode = 0, GroupId = "g", GroupState = "Stable", ProtocolType = "consumer", ProtocolData = "range",
                        Members = [new() { MemberId = "m", ClientId = "c", ClientHost = "/h", MemberMetadata = new byte[] { 1 }, MemberAssignment = new byte[] { 2 } }],
                        AuthorizedOperations = int.MinValue,
                    },
                ],
            },
            5,
            new Bytes().I32(0).CArr(1).I16(0).CStr("g").CStr("Stable").CStr("consumer").CStr("range")
                .CArr(1).CStr("m").CStr(null).CStr("c").CStr("/h").CBlob([1]).CBlob([2]).NoTags()
                .I32(int.MinValue).NoTags().NoTags());
    }

    [Fact]
    public void DescribeConfigs_v0_response_has_IsDefault_and_v4_request_is_compact()
    {
        AssertGolden(
            new DescribeConfigsResponse
            {
                Results =
                [
                    new()
                    {
                        ErrorCode = 0, ErrorMessage = null, ResourceType = 2, ResourceName = "t",
                        Configs = [new() { Name = "retention.ms", Value = "1", ReadOnly = false, IsDefault = true, IsSensitive = false }],
                    },
                ],
            },
            0,
            new Bytes().I32(0).Arr(1).I16(0).Str(null).I8(2).Str("t")
                .Arr(1).Str("retention.ms").Str("1").Bool(false).Bool(true).Bool(false));
        AssertGolden(
            new DescribeConfigsRequest { Resources = [new() { ResourceType = 4, ResourceName = "1", ConfigurationKeys = null }], IncludeSynonyms = true },
            4,
            new Bytes().CArr(1).I8(4).CStr("1").CArr(-1).NoTags().Bool(true).Bool(false).NoTags());
    }

    [Fact]
    public void CreatePartitions_v0_request_and_v2_response()
    {
        AssertGolden(
            new CreatePartitionsRequest { Topics = [new() { Name = "t", Count = 4, Assignments = null }], TimeoutMs = 10, ValidateOnly = false },
            0,
            new Bytes().Arr(1).Str("t").I32(4).Arr(-1).I32(10).Bool(false));
        AssertGolden(
            new CreatePartitionsResponse { ThrottleTimeMs = 0, Results = [new() { Name = "t", ErrorCode = 37, ErrorMessage = "no" }] },
            2,
            new Bytes().I32(0).CArr(1).CStr("t").I16(37).CStr("no").NoTags().NoTags());
    }

    [Fact]
    public void IncrementalAlterConfigs_v0_request_and_v1_response()
    {
        AssertGolden(
            new IncrementalAlterConfigsRequest
            {
                Resources = [new() { ResourceType = 2, ResourceName = "t", Configs = [new() { Name = "k", ConfigOperation = 1, Value = null }] }],
                ValidateOnly = true,
            },
            0,
            new Bytes().Arr(1).I8(2).Str("t").Arr(1).Str("k").I8(1).Str(null).Bool(true));
        AssertGolden(
            new IncrementalAlterConfigsResponse { Responses = [new() { ErrorCode = 0, ErrorMessage = null, ResourceType = 2, ResourceName = "t" }] },
            1,
            new Bytes().I32(0).CArr(1).I16(0).CStr(null).I8(2).CStr("t").NoTags().NoTags());
    }

    [Fact]
    public void ElectLeaders_v0_request_and_v2_response()
    {
        AssertGolden(
            new ElectLeadersRequest { TopicPartitions = [new() { Topic = "t", Partitions = [0, 1] }], TimeoutMs = 100 },
            0,
            new Bytes().Arr(1).Str("t").Arr(2).I32(0).I32(1).I32(100));
        AssertGolden(
            new ElectLeadersResponse
            {
                ThrottleTimeMs = 0, ErrorCode = 0,
                ReplicaElectionResults = [new() { Topic = "t", PartitionResult = [new() { PartitionId = 0, ErrorCode = 84, ErrorMessage = null }] }],
            },
            2,
            new Bytes().I32(0).I16(0).CArr(1).CStr("t").CArr(1).I32(0).I16(84).CStr(null).NoTags().NoTags().NoTags());
    }

    [Fact]
    public void Partition_reassignment_requests_and_responses_v0()
    {
        AssertGolden(
            new AlterPartitionReassignmentsRequest { TimeoutMs = 5, Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, Replicas = null }] }] },
            0,
            new Bytes().I32(5).CArr(1).CStr("t").CArr(1).I32(0).CArr(-1).NoTags().NoTags().NoTags());
        AssertGolden(
            new ListPartitionReassignmentsResponse
            {
                ThrottleTimeMs = 0, ErrorCode = 0, ErrorMessage = null,
                Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, Replicas = [1, 2], AddingReplicas = [2], RemovingReplicas = [] }] }],
            },
            0,
            new Bytes().I32(0).I16(0).CStr(null).CArr(1).CStr("t")
                .CArr(1).I32(0).CArr(2).I32(1).I32(2).CArr(1).I32(2).CArr(0).NoTags().NoTags().NoTags());
    }

    [Fact]
    public void OffsetForLeaderEpoch_v0_request_and_v4_response()
    {
        AssertGolden(
            new OffsetForLeaderEpochRequest { Topics = [new() { Topic = "t", Partitions = [new() { Partition = 0, LeaderEpoch = 3 }] }] },
            0,
            new Bytes().Arr(1).Str("t").Arr(1).I32(0).I32(3));
        AssertGolden(
            new OffsetForLeaderEpochResponse { ThrottleTimeMs = 0, Topics = [new() { Topic = "t", Partitions = [new() { ErrorCode = 0, Partition = 0, LeaderEpoch = 3, EndOffset = 50 }] }] },
            4,
            new Bytes().I32(0).CArr(1).CStr("t").CArr(1).I16(0).I32(0).I32(3).I64(50).NoTags().NoTags().NoTags());
    }

    [Fact]
    public void OffsetCommit_v2_request_and_v8_response()
    {
        AssertGolden(
            new OffsetCommitRequest
            {
                GroupId = "g", GenerationIdOrMemberEpoch = -1, MemberId = "", RetentionTimeMs = -1,
                Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, CommittedOffset = 12, CommittedMetadata = null }] }],
            },
            2,
            new Bytes().Str("g").I32(-1).Str("").I64(-1).Arr(1).Str("t").Arr(1).I32(0).I64(12).Str(null));
        AssertGolden(
            new OffsetCommitResponse { ThrottleTimeMs = 0, Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, ErrorCode = 0 }] }] },
            8,
            new Bytes().I32(0).CArr(1).CStr("t").CArr(1).I32(0).I16(0).NoTags().NoTags().NoTags());
    }

    [Fact]
    public void OffsetFetch_v1_response_and_v8_multi_group_request()
    {
        AssertGolden(
            new OffsetFetchResponse { Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, CommittedOffset = 5, Metadata = "", ErrorCode = 0 }] }] },
            1,
            new Bytes().Arr(1).Str("t").Arr(1).I32(0).I64(5).Str("").I16(0));
        AssertGolden(
            new OffsetFetchRequest { Groups = [new() { GroupId = "g", Topics = null }], RequireStable = true },
            8,
            new Bytes().CArr(1).CStr("g").CArr(-1).NoTags().Bool(true).NoTags());
    }

    [Fact]
    public void AlterPartition_v2_request_names_topics_by_id_and_v0_response_by_name()
    {
        AssertGolden(
            new AlterPartitionRequest
            {
                BrokerId = 1, BrokerEpoch = 10,
                Topics = [new() { TopicId = Id, Partitions = [new() { PartitionIndex = 0, LeaderEpoch = 2, NewIsr = [1, 2], LeaderRecoveryState = 0, PartitionEpoch = 7 }] }],
            },
            2,
            new Bytes().I32(1).I64(10).CArr(1).Uuid(UuidHex)
                .CArr(1).I32(0).I32(2).CArr(2).I32(1).I32(2).I8(0).I32(7).NoTags().NoTags().NoTags());
        AssertGolden(
            new AlterPartitionResponse
            {
                ThrottleTimeMs = 0, ErrorCode = 0,
                Topics = [new() { TopicName = "t", Partitions = [new() { PartitionIndex = 0, ErrorCode = 0, LeaderId = 1, LeaderEpoch = 2, Isr = [1], PartitionEpoch = 8 }] }],
            },
            0,
            new Bytes().I32(0).I16(0).CArr(1).CStr("t").CArr(1).I32(0).I16(0).I32(1).I32(2).CArr(1).I32(1).I32(8).NoTags().NoTags().NoTags());
    }

    [Fact]
    public void BrokerRegistration_v1_request_with_uint16_port_and_v0_response()
    {
        AssertGolden(
            new BrokerRegistrationRequest
            {
                BrokerId = 2, ClusterId = "c", IncarnationId = Id,
                Listeners = [new() { Name = "PLAINTEXT", Host = "h", Port = 65000, SecurityProtocol = 0 }],
                Features = [new() { Name = "metadata.version", MinSupportedVersion = 1, MaxSupportedVersion = 20 }],
                Rack = null, IsMigratingZkBroker = false,
            },
            1,
            new Bytes().I32(2).CStr("c").Uuid(UuidHex)
                .CArr(1).CStr("PLAINTEXT").CStr("h").U16(65000).I16(0).NoTags()
                .CArr(1).CStr("metadata.version").I16(1).I16(20).NoTags()
                .CStr(null).Bool(false).NoTags());
        AssertGolden(
            new BrokerRegistrationResponse { ThrottleTimeMs = 0, ErrorCode = 0, BrokerEpoch = 100 },
            0,
            new Bytes().I32(0).I16(0).I64(100).NoTags());
    }

    [Fact]
    public void DescribeQuorum_v0_request()
    {
        AssertGolden(
            new DescribeQuorumRequest { Topics = [new() { TopicName = "__cluster_metadata", Partitions = [new() { PartitionIndex = 0 }] }] },
            0,
            new Bytes().CArr(1).CStr("__cluster_metadata").CArr(1).I32(0).NoTags().NoTags().NoTags());
    }

    [Fact]
    public void SyncGroup_v4_request_and_v0_response()
    {
        AssertGolden(
            new SyncGroupRequest { GroupId = "g", GenerationId = 1, MemberId = "m", GroupInstanceId = null, Assignments = [] },
            4,
            new Bytes().CStr("g").I32(1).CStr("m").CStr(null).CArr(0).NoTags());
        AssertGolden(new SyncGroupResponse { ErrorCode = 0, Assignment = new byte[] { 7 } }, 0, new Bytes().I16(0).Blob([7]));
    }
}
