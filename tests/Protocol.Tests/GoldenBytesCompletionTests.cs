using Kraft.Protocol.Messages;
using Kraft.Protocol.Primitives;

using static Kraft.Protocol.Tests.GoldenBytes;

namespace Kraft.Protocol.Tests;

/// <summary>
/// The remaining halves of the golden set: together with the other golden test classes every API has a
/// hand-worked request and response in a classic and (where one exists) a flexible version.
/// </summary>
public class GoldenBytesCompletionTests
{
    private const string UuidHex = "ffeeddccbbaa99887766554433221100";
    private static readonly Guid Id = new(Convert.FromHexString(UuidHex), bigEndian: true);

    [Fact]
    public void ApiVersions_v3_request_body_and_v0_request_body()
    {
        AssertGolden(new ApiVersionsRequest(), 0, new Bytes());
        AssertGolden(new ApiVersionsRequest { ClientSoftwareName = "a", ClientSoftwareVersion = "b" }, 3, new Bytes().CStr("a").CStr("b").NoTags());
    }

    [Fact]
    public void CreateTopics_v5_request_and_v7_response_with_topic_id()
    {
        AssertGolden(
            new CreateTopicsRequest
            {
                Topics = [new() { Name = "t", NumPartitions = -1, ReplicationFactor = -1, Assignments = [new() { PartitionIndex = 0, BrokerIds = [1] }], Configs = [] }],
                timeoutMs = 1, validateOnly = true,
            },
            5,
            new Bytes().CArr(1).CStr("t").I32(-1).I16(-1).CArr(1).I32(0).CArr(1).I32(1).NoTags().CArr(0).NoTags()
                .I32(1).Bool(true).NoTags());
        AssertGolden(
            new CreateTopicsResponse
            {
                Topics = [new() { Name = "t", TopicId = Id, ErrorCode = 0, ErrorMessage = null, NumPartitions = 3, ReplicationFactor = 1, Configs = null }],
            },
            7,
            new Bytes().I32(0).CArr(1).CStr("t").Uuid(UuidHex).I16(0).CStr(null).I32(3).I16(1).CArr(-1).NoTags().NoTags());
    }

    [Fact]
    public void LeaveGroup_v4_request_and_v0_response()
    {
        AssertGolden(
            new LeaveGroupRequest { GroupId = "g", Members = [new() { MemberId = "m", GroupInstanceId = "i" }] },
            4,
            new Bytes().CStr("g").CArr(1).CStr("m").CStr("i").NoTags().NoTags());
        AssertGolden(new LeaveGroupResponse { ErrorCode = 25 }, 0, new Bytes().I16(25));
    }

    [Fact]
    public void ListGroups_v4_response()
    {
        AssertGolden(
            new ListGroupsResponse { ThrottleTimeMs = 0, ErrorCode = 0, Groups = [new() { GroupId = "g", ProtocolType = "consumer", GroupState = "Empty" }] },
            4,
            new Bytes().I32(0).I16(0).CArr(1).CStr("g").CStr("consumer").CStr("Empty").NoTags().NoTags());
    }

    [Fact]
    public void InitProducerId_v0_response()
    {
        AssertGolden(
            new InitProducerIdResponse { ThrottleTimeMs = 0, ErrorCode = 0, ProducerId = 5, ProducerEpoch = 1 },
            0,
            new Bytes().I32(0).I16(0).I64(5).I16(1));
    }

    [Fact]
    public void BeginQuorumEpoch_and_EndQuorumEpoch_v0_responses()
    {
        AssertGolden(
            new BeginQuorumEpochResponse { ErrorCode = 0, Topics = [new() { TopicName = "m", Partitions = [new() { PartitionIndex = 0, ErrorCode = 0, LeaderId = 1, LeaderEpoch = 2 }] }] },
            0,
            new Bytes().I16(0).Arr(1).Str("m").Arr(1).I32(0).I16(0).I32(1).I32(2));
        AssertGolden(
            new EndQuorumEpochResponse { ErrorCode = 0, Topics = [new() { TopicName = "m", Partitions = [new() { PartitionIndex = 0, ErrorCode = 74, LeaderId = -1, LeaderEpoch = 3 }] }] },
            0,
            new Bytes().I16(0).Arr(1).Str("m").Arr(1).I32(0).I16(74).I32(-1).I32(3));
    }

    [Fact]
    public void FetchSnapshot_v0_request_writes_cluster_id_as_tag_0()
    {
        AssertGolden(
            new FetchSnapshotRequest
            {
                ClusterId = "c", ReplicaId = 2, MaxBytes = 100,
                Topics = [new() { Name = "m", Partitions = [new() { Partition = 0, CurrentLeaderEpoch = 3, SnapshotId = new() { EndOffset = 50, Epoch = 2 }, Position = 0 }] }],
            },
            0,
            new Bytes().I32(2).I32(100)
                .CArr(1).CStr("m").CArr(1).I32(0).I32(3).I64(50).I32(2).NoTags().I64(0).NoTags().NoTags()
                .UVar(1).UVar(0).UVar(2).CStr("c"));
    }

    [Fact]
    public void JoinGroup_v6_request_and_v0_response()
    {
        AssertGolden(
            new JoinGroupRequest
            {
                GroupId = "g", SessionTimeoutMs = 45000, RebalanceTimeoutMs = 300000, MemberId = "", GroupInstanceId = null,
                ProtocolType = "consumer", Protocols = [new() { Name = "range", Metadata = new byte[] { 0 } }],
            },
            6,
            new Bytes().CStr("g").I32(45000).I32(300000).CStr("").CStr(null).CStr("consumer").CArr(1).CStr("range").CBlob([0]).NoTags().NoTags());
        AssertGolden(
            new JoinGroupResponse { ErrorCode = 79, GenerationId = -1, ProtocolName = "", Leader = "", MemberId = "m-1", Members = [] },
            0,
            new Bytes().I16(79).I32(-1).Str("").Str("").Str("m-1").Arr(0));
    }

    [Fact]
    public void DescribeGroups_v5_request_and_v0_response()
    {
        AssertGolden(new DescribeGroupsRequest { Groups = ["g"], IncludeAuthorizedOperations = false }, 5, new Bytes().CArr(1).CStr("g").Bool(false).NoTags());
        AssertGolden(
            new DescribeGroupsResponse { Groups = [new() { ErrorCode = 16, GroupId = "g", GroupState = "", ProtocolType = "", ProtocolData = "", Members = [] }] },
            0,
            new Bytes().Arr(1).I16(16).Str("g").Str("").Str("").Str("").Arr(0));
    }

    [Fact]
    public void DescribeConfigs_v0_request_and_v4_response_with_synonyms_and_documentation()
    {
        AssertGolden(
            new DescribeConfigsRequest { Resources = [new() { ResourceType = 2, ResourceName = "t", ConfigurationKeys = ["a"] }] },
            0,
            new Bytes().Arr(1).I8(2).Str("t").Arr(1).Str("a"));
        AssertGolden(
            new DescribeConfigsResponse
            {
                Results =
                [
                    new()
                    {
                        ErrorCode = 0, ErrorMessage = null, ResourceType = 2, ResourceName = "t",
                        Configs =
                        [
                            new()
                            {
                                Name = "a", Value = "1", ReadOnly = false, ConfigSource = 5, IsSensitive = false,
                                Synonyms = [new() { Name = "a", Value = null, Source = 5 }], ConfigType = 3, Documentation = null,
                            },
                        ],
                    },
                ],
            },
            4,
            new Bytes().I32(0).CArr(1).I16(0).CStr(null).I8(2).CStr("t")
                .CArr(1).CStr("a").CStr("1").Bool(false).I8(5).Bool(false)
                .CArr(1).CStr("a").CStr(null).I8(5).NoTags()
                .I8(3).CStr(null).NoTags()
                .NoTags().NoTags());
    }

    [Fact]
    public void CreatePartitions_v2_request_and_v0_response()
    {
        AssertGolden(
            new CreatePartitionsRequest { Topics = [new() { Name = "t", Count = 2, Assignments = [new() { BrokerIds = [1, 2] }] }], TimeoutMs = 0, ValidateOnly = true },
            2,
            new Bytes().CArr(1).CStr("t").I32(2).CArr(1).CArr(2).I32(1).I32(2).NoTags().NoTags().I32(0).Bool(true).NoTags());
        AssertGolden(
            new CreatePartitionsResponse { Results = [new() { Name = "t", ErrorCode = 0, ErrorMessage = null }] },
            0,
            new Bytes().I32(0).Arr(1).Str("t").I16(0).Str(null));
    }

    [Fact]
    public void IncrementalAlterConfigs_v1_request_and_v0_response()
    {
        AssertGolden(
            new IncrementalAlterConfigsRequest { Resources = [new() { ResourceType = 4, ResourceName = "1", Configs = [new() { Name = "k", ConfigOperation = 0, Value = "v" }] }] },
            1,
            new Bytes().CArr(1).I8(4).CStr("1").CArr(1).CStr("k").I8(0).CStr("v").NoTags().NoTags().Bool(false).NoTags());
        AssertGolden(
            new IncrementalAlterConfigsResponse { Responses = [new() { ErrorCode = 40, ErrorMessage = "bad", ResourceType = 2, ResourceName = "t" }] },
            0,
            new Bytes().I32(0).Arr(1).I16(40).Str("bad").I8(2).Str("t"));
    }

    [Fact]
    public void ElectLeaders_v2_request_with_null_partitions_and_v0_response()
    {
        AssertGolden(
            new ElectLeadersRequest { ElectionType = 1, TopicPartitions = null, TimeoutMs = 60000 },
            2,
            new Bytes().I8(1).CArr(-1).I32(60000).NoTags());
        AssertGolden(
            new ElectLeadersResponse { ReplicaElectionResults = [new() { Topic = "t", PartitionResult = [new() { PartitionId = 1, ErrorCode = 0, ErrorMessage = null }] }] },
            0,
            new Bytes().I32(0).Arr(1).Str("t").Arr(1).I32(1).I16(0).Str(null));
    }

    [Fact]
    public void AlterPartitionReassignments_v0_response_and_ListPartitionReassignments_v0_request()
    {
        AssertGolden(
            new AlterPartitionReassignmentsResponse
            {
                ErrorCode = 0, ErrorMessage = null,
                Responses = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, ErrorCode = 85, ErrorMessage = null }] }],
            },
            0,
            new Bytes().I32(0).I16(0).CStr(null).CArr(1).CStr("t").CArr(1).I32(0).I16(85).CStr(null).NoTags().NoTags().NoTags());
        AssertGolden(
            new ListPartitionReassignmentsRequest { TimeoutMs = 60000, Topics = null },
            0,
            new Bytes().I32(60000).CArr(-1).NoTags());
    }

    [Fact]
    public void OffsetForLeaderEpoch_v4_request_and_v0_response()
    {
        AssertGolden(
            new OffsetForLeaderEpochRequest { ReplicaId = 1, Topics = [new() { Topic = "t", Partitions = [new() { Partition = 0, CurrentLeaderEpoch = 5, LeaderEpoch = 4 }] }] },
            4,
            new Bytes().I32(1).CArr(1).CStr("t").CArr(1).I32(0).I32(5).I32(4).NoTags().NoTags().NoTags());
        AssertGolden(
            new OffsetForLeaderEpochResponse { Topics = [new() { Topic = "t", Partitions = [new() { ErrorCode = 0, Partition = 0, EndOffset = 9 }] }] },
            0,
            new Bytes().Arr(1).Str("t").Arr(1).I16(0).I32(0).I64(9));
    }

    [Fact]
    public void OffsetCommit_v8_request_and_v2_response()
    {
        AssertGolden(
            new OffsetCommitRequest
            {
                GroupId = "g", GenerationIdOrMemberEpoch = 3, MemberId = "m", GroupInstanceId = null,
                Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 1, CommittedOffset = 7, CommittedLeaderEpoch = -1, CommittedMetadata = "x" }] }],
            },
            8,
            new Bytes().CStr("g").I32(3).CStr("m").CStr(null)
                .CArr(1).CStr("t").CArr(1).I32(1).I64(7).I32(-1).CStr("x").NoTags().NoTags().NoTags());
        AssertGolden(
            new OffsetCommitResponse { Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 1, ErrorCode = 22 }] }] },
            2,
            new Bytes().Arr(1).Str("t").Arr(1).I32(1).I16(22));
    }

    [Fact]
    public void OffsetFetch_v1_request_and_v8_response()
    {
        AssertGolden(
            new OffsetFetchRequest { GroupId = "g", Topics = [new() { Name = "t", PartitionIndexes = [0] }] },
            1,
            new Bytes().Str("g").Arr(1).Str("t").Arr(1).I32(0));
        AssertGolden(
            new OffsetFetchResponse
            {
                ThrottleTimeMs = 0,
                Groups =
                [
                    new()
                    {
                        GroupId = "g",
                        Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, CommittedOffset = -1, CommittedLeaderEpoch = -1, Metadata = null, ErrorCode = 0 }] }],
                        ErrorCode = 0,
                    },
                ],
            },
            8,
            new Bytes().I32(0).CArr(1).CStr("g")
                .CArr(1).CStr("t").CArr(1).I32(0).I64(-1).I32(-1).CStr(null).I16(0).NoTags().NoTags()
                .I16(0).NoTags()
                .NoTags());
    }

    [Fact]
    public void ListOffsets_v7_request_asks_for_the_max_timestamp()
    {
        AssertGolden(
            new ListOffsetsRequest { ReplicaId = -1, IsolationLevel = 0, Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, CurrentLeaderEpoch = -1, Timestamp = -3 }] }] },
            7,
            new Bytes().I32(-1).I8(0).CArr(1).CStr("t").CArr(1).I32(0).I32(-1).I64(-3).NoTags().NoTags().NoTags());
    }
}
