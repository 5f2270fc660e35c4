using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;
using Kraft.Protocol.Primitives;

using static Kraft.Protocol.Tests.GoldenBytes;

namespace Kraft.Protocol.Tests;

/// <summary>
/// Byte-exact encodings worked out by hand from Kafka's message definitions, one classic and one flexible
/// version per API where both exist. Each vector is checked both ways: our encoder produces exactly these
/// bytes, and our decoder reads them back into a message that encodes to the same bytes.
/// </summary>
public class GoldenBytesTests
{
    private static readonly byte[] Batch = [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0xAB, 0xCD];
    private const string UuidHex = "0123456789abcdeffedcba9876543210";
    private static readonly Guid TopicId = new(Convert.FromHexString(UuidHex), bigEndian: true);

    // ---- Framing and headers ------------------------------------------------------------------------

    [Fact]
    public void ApiVersions_v0_request_frame_uses_header_v1()
    {
        var frame = FrameEncoder.EncodeRequest(new RequestHeader(ApiKey.ApiVersions, 0, 7, "cli"), new ApiVersionsRequest());
        var expected = new Bytes().I16(18).I16(0).I32(7).Str("cli").Framed();
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(frame));
    }

    [Fact]
    public void ApiVersions_v3_request_frame_uses_header_v2_with_a_classic_client_id()
    {
        var request = new ApiVersionsRequest { ClientSoftwareName = "kraft", ClientSoftwareVersion = "1.0" };
        var frame = FrameEncoder.EncodeRequest(new RequestHeader(ApiKey.ApiVersions, 3, 1, "c"), request);
        var expected = new Bytes()
            .I16(18).I16(3).I32(1).Str("c").NoTags() // header v2: client id stays int16-length
            .CStr("kraft").CStr("1.0").NoTags()
            .Framed();
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(frame));
    }

    [Fact]
    public void ApiVersions_v3_response_frame_uses_header_v0_without_tagged_fields()
    {
        var response = new ApiVersionsResponse
        {
            ApiKeys = [new ApiVersionsResponse.ApiVersion { ApiKey = 3, MinVersion = 0, MaxVersion = 12 }],
            ThrottleTimeMs = 0,
        };
        var frame = FrameEncoder.EncodeResponse(3, 42, response);
        var expected = new Bytes()
            .I32(42) // response header v0: no tagged fields, even though the body is flexible
            .I16(0).CArr(1).I16(3).I16(0).I16(12).NoTags().I32(0).NoTags()
            .Framed();
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(frame));
    }

    [Fact]
    public void Metadata_v9_response_frame_uses_header_v1_with_tagged_fields()
    {
        var frame = FrameEncoder.EncodeResponse(9, 5, new MetadataResponse { ClusterId = null, ControllerId = 1 });
        var expected = new Bytes()
            .I32(5).NoTags()
            .I32(0).CArr(0).CStr(null).I32(1).CArr(0).I32(int.MinValue).NoTags()
            .Framed();
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(frame));
    }

    // ---- ApiVersions --------------------------------------------------------------------------------

    [Fact]
    public void ApiVersions_v0_response()
    {
        var response = new ApiVersionsResponse
        {
            ErrorCode = 35,
            ApiKeys = [new ApiVersionsResponse.ApiVersion { ApiKey = 18, MinVersion = 0, MaxVersion = 3 }],
        };
        AssertGolden(response, 0, new Bytes().I16(35).Arr(1).I16(18).I16(0).I16(3));
    }

    [Fact]
    public void ApiVersions_v3_response_with_known_tagged_fields_in_tag_order()
    {
        var response = new ApiVersionsResponse
        {
            ApiKeys = [],
            ThrottleTimeMs = 10,
            SupportedFeatures = [new ApiVersionsResponse.SupportedFeatureKey { Name = "kraft.version", MinVersion = 0, MaxVersion = 1 }],
            FinalizedFeaturesEpoch = 5,
        };
        var feature = new Bytes().CArr(1).CStr("kraft.version").I16(0).I16(1).NoTags().ToArray();
        AssertGolden(response, 3, new Bytes()
            .I16(0).CArr(0).I32(10)
            .UVar(2)
            .UVar(0).UVar(feature.Length).Raw(feature) // tag 0: SupportedFeatures
            .UVar(1).UVar(8).I64(5));                    // tag 1: FinalizedFeaturesEpoch
    }

    // ---- Metadata -----------------------------------------------------------------------------------

    [Fact]
    public void Metadata_v1_request_with_null_topics_means_all_topics()
    {
        AssertGolden(new MetadataRequest { Topics = null }, 1, new Bytes().Arr(-1));
    }

    [Fact]
    public void Metadata_v10_request_carries_topic_ids_and_compact_names()
    {
        var request = new MetadataRequest
        {
            Topics = [new MetadataRequest.MetadataRequestTopic { TopicId = TopicId, Name = "t" }],
            AllowAutoTopicCreation = false,
            IncludeTopicAuthorizedOperations = true,
        };
        AssertGolden(request, 10, new Bytes()
            .CArr(1).Uuid(UuidHex).CStr("t").NoTags()
            .Bool(false).Bool(false).Bool(true).NoTags());
    }

    [Fact]
    public void Metadata_v1_response()
    {
        var response = new MetadataResponse
        {
            Brokers = [new MetadataResponse.MetadataResponseBroker { NodeId = 1, Host = "h", Port = 9092, Rack = null }],
            ControllerId = 1,
            Topics =
            [
                new MetadataResponse.MetadataResponseTopic
                {
                    Name = "t",
                    IsInternal = false,
                    Partitions =
                    [
                        new MetadataResponse.MetadataResponsePartition { PartitionIndex = 0, LeaderId = 1, ReplicaNodes = [1, 2], IsrNodes = [1] },
                    ],
                },
            ],
        };
        AssertGolden(response, 1, new Bytes()
            .Arr(1).I32(1).Str("h").I32(9092).Str(null)
            .I32(1)
            .Arr(1).I16(0).Str("t").Bool(false)
            .Arr(1).I16(0).I32(0).I32(1).Arr(2).I32(1).I32(2).Arr(1).I32(1));
    }

    [Fact]
    public void Metadata_v12_response()
    {
        var response = new MetadataResponse
        {
            ThrottleTimeMs = 0,
            Brokers = [new MetadataResponse.MetadataResponseBroker { NodeId = 2, Host = "b", Port = 1, Rack = "r" }],
            ClusterId = "c",
            ControllerId = 2,
            Topics =
            [
                new MetadataResponse.MetadataResponseTopic
                {
                    ErrorCode = 3,
                    Name = null,
                    TopicId = TopicId,
                    Partitions = [],
                    TopicAuthorizedOperations = -2147483648,
                },
            ],
        };
        AssertGolden(response, 12, new Bytes()
            .I32(0)
            .CArr(1).I32(2).CStr("b").I32(1).CStr("r").NoTags()
            .CStr("c").I32(2)
            .CArr(1).I16(3).CStr(null).Uuid(UuidHex).Bool(false).CArr(0).I32(int.MinValue).NoTags()
            .NoTags());
    }

    // ---- Produce ------------------------------------------------------------------------------------

    [Fact]
    public void Produce_v3_request_carries_records_as_int32_length_bytes()
    {
        var request = new ProduceRequest
        {
            TransactionalId = null,
            Acks = -1,
            TimeoutMs = 1000,
            TopicData = [new() { Name = "t", PartitionData = [new() { Index = 2, Records = Batch }] }],
        };
        AssertGolden(request, 3, new Bytes()
            .Str(null).I16(-1).I32(1000)
            .Arr(1).Str("t").Arr(1).I32(2).Blob(Batch));
    }

    [Fact]
    public void Produce_v9_request_carries_records_as_compact_bytes()
    {
        var request = new ProduceRequest
        {
            TransactionalId = "tx",
            Acks = 1,
            TimeoutMs = 5,
            TopicData = [new() { Name = "t", PartitionData = [new() { Index = 0, Records = Batch }] }],
        };
        AssertGolden(request, 9, new Bytes()
            .CStr("tx").I16(1).I32(5)
            .CArr(1).CStr("t").CArr(1).I32(0).CBlob(Batch).NoTags().NoTags()
            .NoTags());
    }

    [Fact]
    public void Produce_v3_response()
    {
        var response = new ProduceResponse
        {
            Responses = [new() { Name = "t", PartitionResponses = [new() { Index = 1, ErrorCode = 0, BaseOffset = 100, LogAppendTimeMs = -1 }] }],
            ThrottleTimeMs = 0,
        };
        AssertGolden(response, 3, new Bytes()
            .Arr(1).Str("t").Arr(1).I32(1).I16(0).I64(100).I64(-1)
            .I32(0));
    }

    [Fact]
    public void Produce_v9_response_with_record_errors()
    {
        var response = new ProduceResponse
        {
            Responses =
            [
                new()
                {
                    Name = "t",
                    PartitionResponses =
                    [
                        new()
                        {
                            Index = 0, ErrorCode = 87, BaseOffset = -1, LogAppendTimeMs = -1, LogStartOffset = 0,
                            RecordErrors = [new() { BatchIndex = 0, BatchIndexErrorMessage = null }],
                            ErrorMessage = "bad",
                        },
                    ],
                },
            ],
            ThrottleTimeMs = 3,
        };
        AssertGolden(response, 9, new Bytes()
            .CArr(1).CStr("t")
            .CArr(1).I32(0).I16(87).I64(-1).I64(-1).I64(0)
            .CArr(1).I32(0).CStr(null).NoTags()
            .CStr("bad").NoTags()
            .NoTags()
            .I32(3).NoTags());
    }

    // ---- Fetch --------------------------------------------------------------------------------------

    [Fact]
    public void Fetch_v4_request()
    {
        var request = new FetchRequest
        {
            ReplicaId = -1, MaxWaitMs = 500, MinBytes = 1, MaxBytes = 1024, IsolationLevel = 1,
            Topics = [new() { Topic = "t", Partitions = [new() { Partition = 0, FetchOffset = 42, PartitionMaxBytes = 512 }] }],
        };
        AssertGolden(request, 4, new Bytes()
            .I32(-1).I32(500).I32(1).I32(1024).I8(1)
            .Arr(1).Str("t").Arr(1).I32(0).I64(42).I32(512));
    }

    [Fact]
    public void Fetch_v13_request_names_topics_by_id_and_writes_cluster_id_as_tag_0()
    {
        var request = new FetchRequest
        {
            ClusterId = "k",
            ReplicaId = 3, MaxWaitMs = 1, MinBytes = 0, MaxBytes = 9, IsolationLevel = 0, SessionId = 0, SessionEpoch = -1,
            Topics =
            [
                new()
                {
                    TopicId = TopicId,
                    Partitions = [new() { Partition = 1, CurrentLeaderEpoch = 4, FetchOffset = 10, LastFetchedEpoch = 3, LogStartOffset = 0, PartitionMaxBytes = 8 }],
                },
            ],
            ForgottenTopicsData = [],
            RackId = "",
        };
        AssertGolden(request, 13, new Bytes()
            .I32(3).I32(1).I32(0).I32(9).I8(0).I32(0).I32(-1)
            .CArr(1).Uuid(UuidHex)
            .CArr(1).I32(1).I32(4).I64(10).I32(3).I64(0).I32(8).NoTags()
            .NoTags()
            .CArr(0).CStr("")
            .UVar(1).UVar(0).UVar(2).CStr("k"));
    }

    [Fact]
    public void Fetch_v4_response_with_aborted_transactions_and_records()
    {
        var response = new FetchResponse
        {
            ThrottleTimeMs = 0,
            Responses =
            [
                new()
                {
                    Topic = "t",
                    Partitions =
                    [
                        new()
                        {
                            PartitionIndex = 0, ErrorCode = 0, HighWatermark = 8, LastStableOffset = 8,
                            AbortedTransactions = [new() { ProducerId = 5, FirstOffset = 2 }],
                            Records = Batch,
                        },
                    ],
                },
            ],
        };
        AssertGolden(response, 4, new Bytes()
            .I32(0)
            .Arr(1).Str("t")
            .Arr(1).I32(0).I16(0).I64(8).I64(8)
            .Arr(1).I64(5).I64(2)
            .Blob(Batch));
    }

    [Fact]
    public void Fetch_v12_response_writes_diverging_epoch_as_tag_0_and_leader_as_tag_1()
    {
        var response = new FetchResponse
        {
            ThrottleTimeMs = 0, ErrorCode = 0, SessionId = 0,
            Responses =
            [
                new()
                {
                    Topic = "t",
                    Partitions =
                    [
                        new()
                        {
                            PartitionIndex = 0, ErrorCode = 0, HighWatermark = 8, LastStableOffset = -1, LogStartOffset = 0,
                            DivergingEpoch = new() { Epoch = 2, EndOffset = 6 },
                            CurrentLeader = new() { LeaderId = 1, LeaderEpoch = 3 },
                            AbortedTransactions = null,
                            PreferredReadReplica = -1,
                            Records = null,
                        },
                    ],
                },
            ],
        };
        var diverging = new Bytes().I32(2).I64(6).NoTags().ToArray();
        var leader = new Bytes().I32(1).I32(3).NoTags().ToArray();
        AssertGolden(response, 12, new Bytes()
            .I32(0).I16(0).I32(0)
            .CArr(1).CStr("t")
            .CArr(1).I32(0).I16(0).I64(8).I64(-1).I64(0)
            .CArr(-1).I32(-1).CBlob(null)
            .UVar(2).UVar(0).UVar(diverging.Length).Raw(diverging).UVar(1).UVar(leader.Length).Raw(leader)
            .NoTags()
            .NoTags());
    }

    // ---- ListOffsets --------------------------------------------------------------------------------

    [Fact]
    public void ListOffsets_v1_request_and_response()
    {
        var request = new ListOffsetsRequest
        {
            ReplicaId = -1,
            Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, Timestamp = -1 }] }],
        };
        AssertGolden(request, 1, new Bytes().I32(-1).Arr(1).Str("t").Arr(1).I32(0).I64(-1));

        var response = new ListOffsetsResponse
        {
            Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, ErrorCode = 0, Timestamp = -1, Offset = 17 }] }],
        };
        AssertGolden(response, 1, new Bytes().Arr(1).Str("t").Arr(1).I32(0).I16(0).I64(-1).I64(17));
    }

    [Fact]
    public void ListOffsets_v6_request_and_response()
    {
        var request = new ListOffsetsRequest
        {
            ReplicaId = -1, IsolationLevel = 1,
            Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, CurrentLeaderEpoch = 2, Timestamp = -2 }] }],
        };
        AssertGolden(request, 6, new Bytes()
            .I32(-1).I8(1).CArr(1).CStr("t").CArr(1).I32(0).I32(2).I64(-2).NoTags().NoTags().NoTags());

        var response = new ListOffsetsResponse
        {
            ThrottleTimeMs = 1,
            Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 0, ErrorCode = 0, Timestamp = -1, Offset = 0, LeaderEpoch = 2 }] }],
        };
        AssertGolden(response, 6, new Bytes()
            .I32(1).CArr(1).CStr("t").CArr(1).I32(0).I16(0).I64(-1).I64(0).I32(2).NoTags().NoTags().NoTags());
    }

    // ---- FindCoordinator ----------------------------------------------------------------------------

    [Fact]
    public void FindCoordinator_v0_request_and_response()
    {
        AssertGolden(new FindCoordinatorRequest { Key = "g" }, 0, new Bytes().Str("g"));
        AssertGolden(
            new FindCoordinatorResponse { ErrorCode = 0, NodeId = 1, Host = "h", Port = 9092 },
            0,
            new Bytes().I16(0).I32(1).Str("h").I32(9092));
    }

    [Fact]
    public void FindCoordinator_v4_request_and_response_batch_keys()
    {
        AssertGolden(
            new FindCoordinatorRequest { KeyType = 0, CoordinatorKeys = ["g1", "g2"] },
            4,
            new Bytes().I8(0).CArr(2).CStr("g1").CStr("g2").NoTags());
        AssertGolden(
            new FindCoordinatorResponse
            {
                ThrottleTimeMs = 0,
                Coordinators = [new() { Key = "g1", NodeId = 1, Host = "h", Port = 1, ErrorCode = 0, ErrorMessage = null }],
            },
            4,
            new Bytes().I32(0).CArr(1).CStr("g1").I32(1).CStr("h").I32(1).I16(0).CStr(null).NoTags().NoTags());
    }

    // ---- CreateTopics / DeleteTopics ----------------------------------------------------------------

    [Fact]
    public void CreateTopics_v0_request_and_response()
    {
        var request = new CreateTopicsRequest
        {
            Topics = [new() { Name = "t", NumPartitions = 3, ReplicationFactor = 2, Configs = [new() { Name = "k", Value = null }] }],
            timeoutMs = 100,
        };
        AssertGolden(request, 0, new Bytes()
            .Arr(1).Str("t").I32(3).I16(2).Arr(0).Arr(1).Str("k").Str(null)
            .I32(100));
        AssertGolden(new CreateTopicsResponse { Topics = [new() { Name = "t", ErrorCode = 36 }] }, 0, new Bytes().Arr(1).Str("t").I16(36));
    }

    [Fact]
    public void CreateTopics_v5_response_writes_config_error_as_tag_0()
    {
        var response = new CreateTopicsResponse
        {
            ThrottleTimeMs = 0,
            Topics =
            [
                new()
                {
                    Name = "t", ErrorCode = 0, ErrorMessage = null, TopicConfigErrorCode = 40, NumPartitions = 1, ReplicationFactor = 1,
                    Configs = [new() { Name = "a", Value = "b", ReadOnly = false, ConfigSource = 5, IsSensitive = false }],
                },
            ],
        };
        AssertGolden(response, 5, new Bytes()
            .I32(0)
            .CArr(1).CStr("t").I16(0).CStr(null).I32(1).I16(1)
            .CArr(1).CStr("a").CStr("b").Bool(false).I8(5).Bool(false).NoTags()
            .UVar(1).UVar(0).UVar(2).I16(40)
            .NoTags());
    }

    [Fact]
    public void DeleteTopics_v0_and_v6_requests()
    {
        AssertGolden(new DeleteTopicsRequest { TopicNames = ["a", "b"], TimeoutMs = 5 }, 0, new Bytes().Arr(2).Str("a").Str("b").I32(5));
        AssertGolden(
            new DeleteTopicsRequest { Topics = [new() { Name = null, TopicId = TopicId }], TimeoutMs = 5 },
            6,
            new Bytes().CArr(1).CStr(null).Uuid(UuidHex).NoTags().I32(5).NoTags());
    }

    [Fact]
    public void DeleteTopics_v0_and_v6_responses()
    {
        AssertGolden(new DeleteTopicsResponse { Responses = [new() { Name = "a", ErrorCode = 3 }] }, 0, new Bytes().Arr(1).Str("a").I16(3));
        AssertGolden(
            new DeleteTopicsResponse { ThrottleTimeMs = 0, Responses = [new() { Name = "a", TopicId = TopicId, ErrorCode = 0, ErrorMessage = null }] },
            6,
            new Bytes().I32(0).CArr(1).CStr("a").Uuid(UuidHex).I16(0).CStr(null).NoTags().NoTags());
    }

    // ---- Groups -------------------------------------------------------------------------------------

    [Fact]
    public void Heartbeat_v0_and_v4()
    {
        AssertGolden(new HeartbeatRequest { GroupId = "g", GenerationId = 1, MemberId = "m" }, 0, new Bytes().Str("g").I32(1).Str("m"));
        AssertGolden(
            new HeartbeatRequest { GroupId = "g", GenerationId = 1, MemberId = "m", GroupInstanceId = null },
            4,
            new Bytes().CStr("g").I32(1).CStr("m").CStr(null).NoTags());
        AssertGolden(new HeartbeatResponse { ErrorCode = 27 }, 0, new Bytes().I16(27));
        AssertGolden(new HeartbeatResponse { ThrottleTimeMs = 2, ErrorCode = 0 }, 4, new Bytes().I32(2).I16(0).NoTags());
    }

    [Fact]
    public void SyncGroup_v0_and_v5()
    {
        byte[] assignment = [1, 2, 3];
        AssertGolden(
            new SyncGroupRequest { GroupId = "g", GenerationId = 2, MemberId = "m", Assignments = [new() { MemberId = "m", Assignment = assignment }] },
            0,
            new Bytes().Str("g").I32(2).Str("m").Arr(1).Str("m").Blob(assignment));
        AssertGolden(
            new SyncGroupResponse { ThrottleTimeMs = 0, ErrorCode = 0, ProtocolType = "consumer", ProtocolName = "range", Assignment = assignment },
            5,
            new Bytes().I32(0).I16(0).CStr("consumer").CStr("range").CBlob(assignment).NoTags());
    }

    [Fact]
    public void LeaveGroup_v0_and_v4()
    {
        AssertGolden(new LeaveGroupRequest { GroupId = "g", MemberId = "m" }, 0, new Bytes().Str("g").Str("m"));
        AssertGolden(
            new LeaveGroupResponse { ThrottleTimeMs = 0, ErrorCode = 0, Members = [new() { MemberId = "m", GroupInstanceId = null, ErrorCode = 25 }] },
            4,
            new Bytes().I32(0).I16(0).CArr(1).CStr("m").CStr(null).I16(25).NoTags().NoTags());
    }

    [Fact]
    public void ListGroups_v0_and_v4()
    {
        AssertGolden(new ListGroupsRequest(), 0, new Bytes());
        AssertGolden(new ListGroupsRequest { StatesFilter = ["Stable"] }, 4, new Bytes().CArr(1).CStr("Stable").NoTags());
        AssertGolden(
            new ListGroupsResponse { ErrorCode = 0, Groups = [new() { GroupId = "g", ProtocolType = "consumer" }] },
            0,
            new Bytes().I16(0).Arr(1).Str("g").Str("consumer"));
    }

    // ---- Transactions and producers -----------------------------------------------------------------

    [Fact]
    public void InitProducerId_v0_and_v4()
    {
        AssertGolden(new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = 60000 }, 0, new Bytes().Str(null).I32(60000));
        AssertGolden(
            new InitProducerIdRequest { TransactionalId = "x", TransactionTimeoutMs = 1, ProducerId = -1, ProducerEpoch = -1 },
            4,
            new Bytes().CStr("x").I32(1).I64(-1).I16(-1).NoTags());
        AssertGolden(
            new InitProducerIdResponse { ThrottleTimeMs = 0, ErrorCode = 0, ProducerId = 1000, ProducerEpoch = 0 },
            2,
            new Bytes().I32(0).I16(0).I64(1000).I16(0).NoTags());
    }

    // ---- Raft and controller RPCs -------------------------------------------------------------------

    [Fact]
    public void Vote_v0_request_and_response()
    {
        var request = new VoteRequest
        {
            ClusterId = "c",
            Topics = [new() { TopicName = "__cluster_metadata", Partitions = [new() { PartitionIndex = 0, CandidateEpoch = 5, CandidateId = 2, LastOffsetEpoch = 4, LastOffset = 99 }] }],
        };
        AssertGolden(request, 0, new Bytes()
            .CStr("c").CArr(1).CStr("__cluster_metadata").CArr(1).I32(0).I32(5).I32(2).I32(4).I64(99).NoTags().NoTags().NoTags());

        var response = new VoteResponse
        {
            ErrorCode = 0,
            Topics = [new() { TopicName = "__cluster_metadata", Partitions = [new() { PartitionIndex = 0, ErrorCode = 0, LeaderId = -1, LeaderEpoch = 5, VoteGranted = true }] }],
        };
        AssertGolden(response, 0, new Bytes()
            .I16(0).CArr(1).CStr("__cluster_metadata").CArr(1).I32(0).I16(0).I32(-1).I32(5).Bool(true).NoTags().NoTags().NoTags());
    }

    [Fact]
    public void BeginQuorumEpoch_v0_is_a_classic_encoding()
    {
        var request = new BeginQuorumEpochRequest
        {
            ClusterId = null,
            Topics = [new() { TopicName = "m", Partitions = [new() { PartitionIndex = 0, LeaderId = 1, LeaderEpoch = 2 }] }],
        };
        AssertGolden(request, 0, new Bytes().Str(null).Arr(1).Str("m").Arr(1).I32(0).I32(1).I32(2));
    }

    [Fact]
    public void EndQuorumEpoch_v0_request()
    {
        var request = new EndQuorumEpochRequest
        {
            ClusterId = "c",
            Topics = [new() { TopicName = "m", Partitions = [new() { PartitionIndex = 0, LeaderId = 1, LeaderEpoch = 2, PreferredSuccessors = [2, 3] }] }],
        };
        AssertGolden(request, 0, new Bytes().Str("c").Arr(1).Str("m").Arr(1).I32(0).I32(1).I32(2).Arr(2).I32(2).I32(3));
    }

    [Fact]
    public void BrokerHeartbeat_v0_request_and_response()
    {
        AssertGolden(
            new BrokerHeartbeatRequest { BrokerId = 1, BrokerEpoch = 7, CurrentMetadataOffset = 100, WantFence = false, WantShutDown = true },
            0,
            new Bytes().I32(1).I64(7).I64(100).Bool(false).Bool(true).NoTags());
        AssertGolden(
            new BrokerHeartbeatResponse { ThrottleTimeMs = 0, ErrorCode = 0, IsCaughtUp = true, IsFenced = false, ShouldShutDown = false },
            0,
            new Bytes().I32(0).I16(0).Bool(true).Bool(false).Bool(false).NoTags());
    }

    [Fact]
    public void DescribeCluster_v0_request_and_response()
    {
        AssertGolden(new DescribeClusterRequest { IncludeClusterAuthorizedOperations = false }, 0, new Bytes().Bool(false).NoTags());
        AssertGolden(
            new DescribeClusterResponse
            {
                ThrottleTimeMs = 0, ErrorCode = 0, ErrorMessage = null, ClusterId = "c", ControllerId = 1,
                Brokers = [new() { BrokerId = 1, Host = "h", Port = 9092, Rack = null }],
                ClusterAuthorizedOperations = int.MinValue,
            },
            0,
            new Bytes().I32(0).I16(0).CStr(null).CStr("c").I32(1).CArr(1).I32(1).CStr("h").I32(9092).CStr(null).NoTags().I32(int.MinValue).NoTags());
    }

    [Fact]
    public void DescribeQuorum_v1_response()
    {
        var response = new DescribeQuorumResponse
        {
            ErrorCode = 0,
            Topics =
            [
                new()
                {
                    TopicName = "m",
                    Partitions =
                    [
                        new()
                        {
                            PartitionIndex = 0, ErrorCode = 0, LeaderId = 1, LeaderEpoch = 2, HighWatermark = 10,
                            CurrentVoters = [new() { ReplicaId = 1, LogEndOffset = 10, LastFetchTimestamp = -1, LastCaughtUpTimestamp = -1 }],
                            Observers = [],
                        },
                    ],
                },
            ],
        };
        AssertGolden(response, 1, new Bytes()
            .I16(0).CArr(1).CStr("m")
            .CArr(1).I32(0).I16(0).I32(1).I32(2).I64(10)
            .CArr(1).I32(1).I64(10).I64(-1).I64(-1).NoTags()
            .CArr(0)
            .NoTags().NoTags().NoTags());
    }

    [Fact]
    public void FetchSnapshot_v0_response_carries_unaligned_records_and_leader_tag()
    {
        var response = new FetchSnapshotResponse
        {
            Topics =
            [
                new()
                {
                    Name = "m",
                    Partitions =
                    [
                        new()
                        {
                            Index = 0, ErrorCode = 0, SnapshotId = new() { EndOffset = 5, Epoch = 1 },
                            CurrentLeader = new() { LeaderId = 2, LeaderEpoch = 3 },
                            Size = 10, Position = 0, UnalignedRecords = Batch,
                        },
                    ],
                },
            ],
        };
        var leader = new Bytes().I32(2).I32(3).NoTags().ToArray();
        AssertGolden(response, 0, new Bytes()
            .I32(0).I16(0).CArr(1).CStr("m")
            .CArr(1).I32(0).I16(0).I64(5).I32(1).NoTags().I64(10).I64(0).CBlob(Batch)
            .UVar(1).UVar(0).UVar(leader.Length).Raw(leader)
            .NoTags().NoTags());
    }
}
