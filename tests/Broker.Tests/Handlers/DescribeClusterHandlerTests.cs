using Kraft.Broker.Cluster;
using Kraft.Broker.Handlers;
using Kraft.Broker.Network;
using Kraft.Broker.Replication;
using Kraft.Protocol;
using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;
using Kraft.Storage.Log;

namespace Kraft.Broker.Tests.Handlers;

/// <summary>DescribeCluster (KIP-700/KIP-919) and the controller id that Metadata and DescribeCluster give clients.</summary>
public sealed class DescribeClusterHandlerTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "kraft-describe-cluster-" + Guid.NewGuid().ToString("N"));
    private readonly ReplicaManager _replicas;

    public DescribeClusterHandlerTests()
    {
        _replicas = new ReplicaManager(1, _directory, _ => new LogConfig(), new ReplicationConfig(), TimeProvider.System, (_, _) => { });
    }

    public void Dispose()
    {
        _replicas.Dispose();
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    private DataPlaneHandler HandlerFor(int controllerId) => new(1, () => new ClusterView("cluster-x", controllerId, new Dictionary<int, BrokerInfo>
    {
        [1] = new(1, "h1", 9092, "rack-a", Fenced: false),
        [2] = new(2, "h2", 9093, null, Fenced: true),
        [4] = new(4, "h4", 9095, null, Fenced: false),
    }, new Dictionary<string, TopicInfo>()), _replicas, _ => 1, TimeProvider.System);

    private static async Task<T> AskAsync<T>(DataPlaneHandler handler, IRequestMessage request, short version)
    {
        var header = new RequestHeader(request.ApiKey, version, 7, "test");
        return (T)(await handler.HandleAsync(new DecodedRequest(header, request, ReadOnlyMemory<byte>.Empty), new ConnectionInfo(0, null), CancellationToken.None))!;
    }

    [Fact]
    public async Task A_broker_lists_its_unfenced_brokers_with_racks_and_the_active_controller_when_it_is_a_broker()
    {
        var response = await AskAsync<DescribeClusterResponse>(HandlerFor(controllerId: 4), new DescribeClusterRequest { IncludeClusterAuthorizedOperations = true }, 1);
        Assert.Equal(0, response.ErrorCode);
        Assert.Equal("cluster-x", response.ClusterId);
        Assert.Equal(4, response.ControllerId);
        Assert.Equal(1, response.EndpointType);
        Assert.Equal([1, 4], response.Brokers.Select(b => b.BrokerId));
        Assert.Equal(["rack-a", null], response.Brokers.Select(b => b.Rack));
        Assert.Equal(int.MinValue, response.ClusterAuthorizedOperations); // no authorizer: operations are omitted
    }

    [Fact]
    public async Task A_controller_only_leader_is_replaced_by_a_live_broker_in_metadata_and_describe_cluster()
    {
        // Node 9 leads the quorum but is no broker (process.roles=controller): clients could not reach it.
        var handler = HandlerFor(controllerId: 9);
        Assert.Equal(1, (await AskAsync<DescribeClusterResponse>(handler, new DescribeClusterRequest(), 0)).ControllerId);
        Assert.Equal(1, (await AskAsync<MetadataResponse>(handler, new MetadataRequest { Topics = [] }, 12)).ControllerId);
    }

    [Fact]
    public async Task Asking_a_broker_for_controller_endpoints_is_a_mismatched_endpoint_type()
    {
        var response = await AskAsync<DescribeClusterResponse>(HandlerFor(controllerId: 1), new DescribeClusterRequest { EndpointType = 2 }, 1);
        Assert.Equal((short)ErrorCode.MISMATCHED_ENDPOINT_TYPE, response.ErrorCode);
        Assert.Empty(response.Brokers);
    }
}
