using System.Net;
using System.Net.Sockets;
using Kraft.Protocol.Client;
using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;

namespace Kraft.Protocol.Tests;

/// <summary>The client against a loopback fake server: negotiation, pipelining, timeouts, routing.</summary>
public class ClientTests
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(20);

    private static Task<IResponseMessage?> Answer(IResponseMessage? response) => Task.FromResult(response);

    private static KafkaClientOptions Options(params string[] servers) => new() { BootstrapServers = servers };

    private static int ClosedPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static Func<DecodedRequest, Task<IResponseMessage?>> Handler(ApiVersionsTable table, Func<DecodedRequest, IResponseMessage?>? other = null) =>
        request => Answer(request.Message is ApiVersionsRequest ? table.CreateResponse() : other?.Invoke(request));

    [Fact]
    public async Task Negotiation_picks_the_highest_version_both_sides_serve()
    {
        var table = new ApiVersionsTable([new(ApiKey.ApiVersions, 0, 3), new(ApiKey.Metadata, 0, 9)]);
        await using var server = new FakeKafkaServer(Handler(table), table);
        await using var connection = await KafkaConnection.ConnectAsync("127.0.0.1", server.Port, Options(), CancellationToken.None).WaitAsync(TestTimeout);

        Assert.Equal(9, connection.NegotiatedVersions[ApiKey.Metadata]);
        Assert.False(connection.NegotiatedVersions.ContainsKey(ApiKey.Fetch));
        Assert.Throws<KafkaClientException>(() => connection.VersionFor(ApiKey.Fetch));
    }

    [Fact]
    public async Task Negotiation_retries_at_the_brokers_ApiVersions_version_after_error_35()
    {
        var table = new ApiVersionsTable([new(ApiKey.ApiVersions, 0, 2), new(ApiKey.Metadata, 0, 12)]);
        await using var server = new FakeKafkaServer(Handler(table), table);
        await using var connection = await KafkaConnection.ConnectAsync("127.0.0.1", server.Port, Options(), CancellationToken.None).WaitAsync(TestTimeout);

        Assert.Equal(2, connection.NegotiatedVersions[ApiKey.ApiVersions]);
        Assert.Equal(12, connection.NegotiatedVersions[ApiKey.Metadata]);
        Assert.Equal([(short)2], server.Received.Where(h => h.ApiKey == ApiKey.ApiVersions).Select(h => h.ApiVersion));
    }

    [Fact]
    public async Task Pipelined_requests_are_matched_by_correlation_id_when_answers_arrive_out_of_order()
    {
        var holdFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new FakeKafkaServer(async request =>
        {
            if (request.Message is ApiVersionsRequest)
            {
                return ApiVersionsTable.All.CreateResponse();
            }

            var heartbeat = (HeartbeatRequest)request.Message;
            if (heartbeat.GroupId == "first")
            {
#pragma warning disable VSTHRD003 // The test owns this completion source; it only gates the fake server.
                await holdFirst.Task;
#pragma warning restore VSTHRD003
                return new HeartbeatResponse { ErrorCode = 1 };
            }

            return new HeartbeatResponse { ErrorCode = 2 };
        });
        await using var connection = await KafkaConnection.ConnectAsync("127.0.0.1", server.Port, Options(), CancellationToken.None).WaitAsync(TestTimeout);

        var first = connection.SendAsync<HeartbeatResponse>(new HeartbeatRequest { GroupId = "first" });
        var second = connection.SendAsync<HeartbeatResponse>(new HeartbeatRequest { GroupId = "second" });
        Assert.Equal(2, (await second.WaitAsync(TestTimeout)).ErrorCode);
        Assert.False(first.IsCompleted);
        holdFirst.SetResult();
        Assert.Equal(1, (await first.WaitAsync(TestTimeout)).ErrorCode);
    }

    [Fact]
    public async Task A_request_without_an_answer_times_out_on_the_injected_clock()
    {
        var time = new ManualTimeProvider();
        await using var server = new FakeKafkaServer(Handler(ApiVersionsTable.All));
        var options = Options() with { TimeProvider = time, RequestTimeout = TimeSpan.FromSeconds(30) };
        await using var connection = await KafkaConnection.ConnectAsync("127.0.0.1", server.Port, options, CancellationToken.None).WaitAsync(TestTimeout);

        var pending = connection.SendAsync<MetadataResponse>(new MetadataRequest());
        await Task.Yield();
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.False(pending.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(2));
        var error = await Assert.ThrowsAsync<KafkaClientException>(() => pending.WaitAsync(TestTimeout));
        Assert.Contains("timed out", error.Message);
        Assert.True(connection.IsAlive);
    }

    [Fact]
    public async Task Cancelling_a_request_throws_OperationCanceledException_and_leaves_the_connection_usable()
    {
        await using var server = new FakeKafkaServer(Handler(ApiVersionsTable.All, r => r.Message is MetadataRequest ? null : new HeartbeatResponse()));
        await using var connection = await KafkaConnection.ConnectAsync("127.0.0.1", server.Port, Options(), CancellationToken.None).WaitAsync(TestTimeout);

        using var cancel = new CancellationTokenSource();
        var pending = connection.SendAsync<MetadataResponse>(new MetadataRequest(), cancellationToken: cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(TestTimeout));
        var heartbeat = await connection.SendAsync<HeartbeatResponse>(new HeartbeatRequest()).WaitAsync(TestTimeout);
        Assert.Equal(0, heartbeat.ErrorCode);
    }

    [Fact]
    public async Task Pending_requests_fail_when_the_server_hangs_up()
    {
        await using var server = new FakeKafkaServer(Handler(ApiVersionsTable.All, _ => null));
        await using var connection = await KafkaConnection.ConnectAsync("127.0.0.1", server.Port, Options(), CancellationToken.None).WaitAsync(TestTimeout);

        var pending = connection.SendAsync<MetadataResponse>(new MetadataRequest());
        while (server.Received.Count < 2)
        {
            await Task.Yield();
        }

        server.DropConnections();
        await Assert.ThrowsAsync<KafkaClientException>(() => pending.WaitAsync(TestTimeout));
        Assert.False(connection.IsAlive);
    }

    [Fact]
    public async Task Bootstrap_skips_addresses_that_refuse_connections()
    {
        await using var server = new FakeKafkaServer(Handler(ApiVersionsTable.All, _ => new DescribeClusterResponse { ClusterId = "abc" }));
        await using var client = new KafkaClient(Options($"127.0.0.1:{ClosedPort()}", server.Address));

        var cluster = await client.DescribeClusterAsync().WaitAsync(TestTimeout);
        Assert.Equal("abc", cluster.ClusterId);
    }

    [Fact]
    public async Task Bootstrap_fails_with_every_reason_when_no_address_answers()
    {
        await using var client = new KafkaClient(Options($"127.0.0.1:{ClosedPort()}", $"127.0.0.1:{ClosedPort()}"));
        var error = await Assert.ThrowsAsync<KafkaClientException>(() => client.DescribeClusterAsync().WaitAsync(TestTimeout));
        Assert.Contains("no bootstrap server answered", error.Message);
    }

    [Fact]
    public async Task Produce_goes_to_the_leader_named_by_metadata_and_carries_the_batch_unchanged()
    {
        byte[] batch = [1, 2, 3, 4, 5];
        byte[]? received = null;
        FakeKafkaServer? leader = null;
        leader = new FakeKafkaServer(Handler(ApiVersionsTable.All, request =>
        {
            var produce = (ProduceRequest)request.Message;
            received = produce.TopicData[0].PartitionData[0].Records!.Value.ToArray();
            return new ProduceResponse
            {
                Responses = [new() { Name = "t", PartitionResponses = [new() { Index = 1, BaseOffset = 41 }] }],
            };
        }));
        await using var leaderServer = leader;
        await using var bootstrap = new FakeKafkaServer(Handler(ApiVersionsTable.All, _ => new MetadataResponse
        {
            Brokers = [new() { NodeId = 7, Host = "127.0.0.1", Port = leader.Port }],
            ControllerId = 7,
            Topics = [new() { Name = "t", Partitions = [new() { PartitionIndex = 1, LeaderId = 7, ReplicaNodes = [7], IsrNodes = [7] }] }],
        }));
        await using var client = new KafkaClient(Options(bootstrap.Address));

        var result = await client.ProduceAsync("t", 1, batch).WaitAsync(TestTimeout);

        Assert.Equal(41, result!.BaseOffset);
        Assert.Equal(batch, received);
        Assert.Contains(leader.Received, h => h.ApiKey == ApiKey.Produce && h.ApiVersion == 9);
        Assert.DoesNotContain(bootstrap.Received, h => h.ApiKey == ApiKey.Produce);
    }
}
