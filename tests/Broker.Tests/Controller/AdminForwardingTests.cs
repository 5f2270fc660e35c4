using System.Net;
using System.Net.Sockets;
using Kraft.Broker.Controller;
using Kraft.Broker.Network;
using Kraft.Protocol;
using Kraft.Protocol.Client;
using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;

namespace Kraft.Broker.Tests.Controller;

/// <summary>
/// A broker forwarding an admin request while no controller can take it answers NOT_CONTROLLER in the request's
/// own shape (clients retry it), instead of failing the connection.
/// </summary>
public class AdminForwardingTests
{
    private static DecodedRequest Request(IRequestMessage message) =>
        new(new RequestHeader(message.ApiKey, 5, 7, "test"), message, ReadOnlyMemory<byte>.Empty);

    private static CreateTopicsRequest CreateTopics() => new()
    {
        Topics = [new CreateTopicsRequest.CreatableTopic { Name = "orders", NumPartitions = 3, ReplicationFactor = 3 }],
        timeoutMs = 1000,
    };

    [Fact]
    public async Task With_no_controller_known_a_create_topics_waits_then_gets_NOT_CONTROLLER_per_topic()
    {
        await using var channel = new ControllerChannel(1, () => null, _ => null, null, new KafkaClientOptions()) { RetryBackoff = TimeSpan.FromMilliseconds(10) };
        var handler = new AdminForwardingHandler(channel) { ControllerWait = TimeSpan.FromMilliseconds(100) };
        var response = Assert.IsType<CreateTopicsResponse>(await handler.HandleAsync(Request(CreateTopics()), new ConnectionInfo(1, null), CancellationToken.None));
        var topic = Assert.Single(response.Topics);
        Assert.Equal("orders", topic.Name);
        Assert.Equal((short)ErrorCode.NOT_CONTROLLER, topic.ErrorCode);
    }

    [Fact]
    public async Task An_unreachable_controller_gives_NOT_CONTROLLER_for_every_config_resource()
    {
        // A port that was just free: nothing listens there, so the connection is refused.
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        await using var channel = new ControllerChannel(1, () => 2, _ => ("127.0.0.1", port), null, new KafkaClientOptions { ConnectTimeout = TimeSpan.FromSeconds(2) });
        var handler = new AdminForwardingHandler(channel);
        var request = new DescribeConfigsRequest
        {
            Resources = [new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = 2, ResourceName = "orders" }],
        };
        var response = Assert.IsType<DescribeConfigsResponse>(await handler.HandleAsync(Request(request), new ConnectionInfo(1, null), CancellationToken.None));
        var result = Assert.Single(response.Results);
        Assert.Equal((short)ErrorCode.NOT_CONTROLLER, result.ErrorCode);
        Assert.Equal("orders", result.ResourceName);
    }
}
