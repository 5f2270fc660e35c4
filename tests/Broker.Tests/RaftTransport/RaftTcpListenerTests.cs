using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Kraft.Broker.RaftTransport;
using Kraft.Quorum.Raft;
using Kraft.Quorum.RaftDriver;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kraft.Broker.Tests.RaftTransport;

public sealed class RaftTcpListenerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static byte[] Frame(RaftMessage message)
    {
        byte[] body = RaftMessageCodec.Encode(message);
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, body.Length);
        body.CopyTo(frame, 4);
        return frame;
    }

    private static byte[] Hello(int nodeId)
    {
        var hello = new byte[8];
        "KRFT"u8.CopyTo(hello);
        BinaryPrimitives.WriteInt32BigEndian(hello.AsSpan(4), nodeId);
        return hello;
    }

    private static async Task<bool> ClosedByPeerAsync(Socket socket)
    {
        var buffer = new byte[1];
        using var timeout = new CancellationTokenSource(Wait);
        try
        {
            return await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(stopwatch.Elapsed < Wait, "condition not met in time");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task Transport_to_listener_delivers_messages_in_order()
    {
        var received = new ConcurrentQueue<RaftMessage>();
        await using var listener = new RaftTcpListener(received.Enqueue, NullLogger.Instance);
        var endpoint = listener.Start(new IPEndPoint(IPAddress.Loopback, 0));
        await using var transport = new RaftTcpTransport(new NodeId(1), id => id == new NodeId(2) ? ("127.0.0.1", endpoint.Port) : null, NullLogger.Instance);

        for (int i = 0; i < 100; i++) transport.Send(new FetchRequest(new NodeId(1), new NodeId(2), i, 1, i, 1));
        transport.Send(new FetchRequest(new NodeId(1), new NodeId(7), 0, 1, 0, 1)); // unknown address: dropped
        await WaitForAsync(() => received.Count == 100);
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (long)i), received.Select(m => m.CorrelationId));
        await WaitForAsync(() => transport.DroppedMessages == 1);
    }

    [Theory]
    [InlineData("bad magic")]
    [InlineData("oversized frame")]
    [InlineData("zero frame")]
    [InlineData("garbage frame")]
    [InlineData("spoofed sender")]
    public async Task Malformed_input_closes_only_that_connection_and_delivers_nothing(string fault)
    {
        var received = new ConcurrentQueue<RaftMessage>();
        await using var listener = new RaftTcpListener(received.Enqueue, NullLogger.Instance, maxFrameBytes: 1 << 20);
        var endpoint = listener.Start(new IPEndPoint(IPAddress.Loopback, 0));

        using var good = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await good.ConnectAsync(endpoint);
        await good.SendAsync(Hello(1));

        using var bad = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await bad.ConnectAsync(endpoint);
        byte[] payload = fault switch
        {
            "bad magic" => [.. "KAFK"u8, 0, 0, 0, 1],
            "oversized frame" => [.. Hello(2), 0, 0x10, 0, 1],
            "zero frame" => [.. Hello(2), 0, 0, 0, 0],
            "garbage frame" => [.. Hello(2), 0, 0, 0, 3, 7, 0, 1],
            _ => [.. Hello(2), .. Frame(new FetchRequest(new NodeId(3), new NodeId(1), 1, 1, 0, 0))],
        };
        await bad.SendAsync(payload);
        Assert.True(await ClosedByPeerAsync(bad), "the listener closes the bad connection");
        Assert.Equal(1, listener.ConnectionsClosedForBadInput);

        await good.SendAsync(Frame(new VoteRequest(new NodeId(1), new NodeId(5), 42, 2, 1, 10, true)));
        await WaitForAsync(() => received.Count == 1);
        Assert.True(received.TryDequeue(out var m));
        Assert.Equal(42, m.CorrelationId);
        Assert.Equal(new NodeId(1), m.From);
    }

    [Fact]
    public async Task A_socket_accepted_elsewhere_after_the_magic_is_served_including_bytes_already_read()
    {
        var received = new ConcurrentQueue<RaftMessage>();
        await using var listener = new RaftTcpListener(received.Enqueue, NullLogger.Instance);
        using var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        server.Listen(1);
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync((IPEndPoint)server.LocalEndPoint!);
        var accepted = await server.AcceptAsync();

        byte[] all = [.. Hello(4), .. Frame(new BeginQuorumEpochRequest(new NodeId(4), new NodeId(1), 9, 3, new NodeId(4))), .. Frame(new FetchRequest(new NodeId(4), new NodeId(1), 10, 3, 0, 0))];
        await client.SendAsync(all);
        // The multiplexer read the magic plus 6 more bytes before deciding; it hands those over too.
        var head = new byte[10];
        int got = 0;
        while (got < head.Length) got += await accepted.ReceiveAsync(head.AsMemory(got), SocketFlags.None);
        Assert.Equal("KRFT"u8.ToArray(), head[..4]);
        listener.Accept(accepted, head.AsMemory(4));

        await WaitForAsync(() => received.Count == 2);
        Assert.Equal([9L, 10L], received.Select(r => r.CorrelationId));
    }
}
