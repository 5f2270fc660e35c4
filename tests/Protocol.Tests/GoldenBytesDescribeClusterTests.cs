using Kraft.Protocol.Messages;
using Kraft.Protocol.Primitives;

using static Kraft.Protocol.Tests.GoldenBytes;

namespace Kraft.Protocol.Tests;

/// <summary>
/// AllocateProducerIds v0 (KIP-730, broker to controller) and DescribeCluster v1 (KIP-919 adds EndpointType: 1 brokers, 2 controllers) worked out by hand, field by field, next
/// to the v0 case in <see cref="GoldenBytesTests"/>: the request and a response from a broker and from a controller.
/// </summary>
public class GoldenBytesDescribeClusterTests
{
    [Fact]
    public void DescribeCluster_v1_request_carries_the_endpoint_type_after_the_authorized_operations_flag()
    {
        AssertGolden(new DescribeClusterRequest { IncludeClusterAuthorizedOperations = true, EndpointType = 2 }, 1,
            new Bytes().Bool(true).I8(2).NoTags());
    }

    [Fact]
    public void DescribeCluster_v1_broker_response_with_a_rack_and_omitted_authorized_operations()
    {
        AssertGolden(
            new DescribeClusterResponse
            {
                ThrottleTimeMs = 0, ErrorCode = 0, ErrorMessage = null, EndpointType = 1, ClusterId = "k", ControllerId = 2,
                Brokers =
                [
                    new() { BrokerId = 1, Host = "h1", Port = 9092, Rack = "r1" },
                    new() { BrokerId = 4, Host = "h4", Port = 9095, Rack = null },
                ],
                ClusterAuthorizedOperations = int.MinValue,
            },
            1,
            new Bytes().I32(0).I16(0).CStr(null).I8(1).CStr("k").I32(2)
                .CArr(2)
                .I32(1).CStr("h1").I32(9092).CStr("r1").NoTags()
                .I32(4).CStr("h4").I32(9095).CStr(null).NoTags()
                .I32(int.MinValue).NoTags());
    }

    [Fact]
    public void DescribeCluster_v1_mismatched_endpoint_error_response()
    {
        AssertGolden(
            new DescribeClusterResponse { ErrorCode = 114, ErrorMessage = "m", EndpointType = 2, ClusterId = "k", ControllerId = -1, Brokers = [] },
            1,
            new Bytes().I32(0).I16(114).CStr("m").I8(2).CStr("k").I32(-1).CArr(0).I32(int.MinValue).NoTags());
    }

    [Fact]
    public void AllocateProducerIds_v0_request_and_response()
    {
        AssertGolden(new AllocateProducerIdsRequest { BrokerId = 4, BrokerEpoch = 12 }, 0, new Bytes().I32(4).I64(12).NoTags());
        AssertGolden(new AllocateProducerIdsResponse { ThrottleTimeMs = 0, ErrorCode = 0, ProducerIdStart = 1000, ProducerIdLen = 1000 }, 0,
            new Bytes().I32(0).I16(0).I64(1000).I32(1000).NoTags());
    }
}
