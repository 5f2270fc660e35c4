using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Kraft.Broker.Network;
using Kraft.Protocol;
using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kraft.Broker.Tests.Network;

/// <summary>The Kafka listener against real sockets on loopback (port 0): answers, ordering, and bad input.</summary>
public sealed class KafkaServerTests : IAsyncLifetime
{
    private sealed class ApiVersionsOnly : IKafkaRequestHandler
    {
        public int Handled;

        public ValueTask<IResponseMessage?> HandleAsync(DecodedRequest request, ConnectionInfo connection, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Handled);
            return request.Message is ApiVersionsRequest
                ? ValueTask.FromResult<IResponseMessage?>(ApiVersionsTable.BrokerListener.CreateResponse())
                : throw new InvalidOperationException("only ApiVersions is served by this test handler");
        }
    }

    private readonly ApiVersionsOnly _handler = new();
    private KafkaServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new KafkaServer(new IPEndPoint(IPAddress.Loopback, 0), ApiVersionsTable.BrokerListener, _handler, NullLogger.Instance,
            new ServerLimits { MaxFrameBytes = 1 << 20 });
        _server.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static byte[] ApiVersionsFrame(int correlationId, short version = 3) =>
        FrameEncoder.EncodeRequest(new RequestHeader(ApiKey.ApiVersions, version, correlationId, "test"), new ApiVersionsRequest { ClientSoftwareName = "t", ClientSoftwareVersion = "1" });

    private async Task<Socket> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(_server.BoundEndpoint);
        return socket;
    }

    private static async Task<byte[]?> ReadFrameAsync(Socket socket, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var size = new byte[4];
        if (!await ReadExactly(socket, size, cts.Token)) return null;
        var body = new byte[BinaryPrimitives.ReadInt32BigEndian(size)];
        return await ReadExactly(socket, body, cts.Token) ? body : null;
    }

    private static async Task<bool> ReadExactly(Socket socket, byte[] buffer, CancellationToken token)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, token);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }

    private async Task<ApiVersionsResponse> ApiVersionsAsync(int correlationId)
    {
        using var socket = await ConnectAsync();
        await socket.SendAsync(ApiVersionsFrame(correlationId));
        var frame = await ReadFrameAsync(socket, TimeSpan.FromSeconds(10));
        Assert.NotNull(frame);
        Assert.Equal(correlationId, BinaryPrimitives.ReadInt32BigEndian(frame));
        var decoded = ResponseDecoder.Decode(frame, ApiKey.ApiVersions, 3);
        Assert.True(decoded.IsSuccess, decoded.Error?.Detail);
        return (ApiVersionsResponse)decoded.Response!.Message;
    }

    [Fact]
    public async Task Requests_are_answered_in_order_with_their_correlation_ids()
    {
        using var socket = await ConnectAsync();
        await socket.SendAsync(ApiVersionsFrame(1).Concat(ApiVersionsFrame(2)).Concat(ApiVersionsFrame(3)).ToArray());
        for (int id = 1; id <= 3; id++)
        {
            var frame = await ReadFrameAsync(socket, TimeSpan.FromSeconds(10));
            Assert.Equal(id, BinaryPrimitives.ReadInt32BigEndian(frame));
        }
    }

    [Fact]
    public async Task An_unsupported_api_versions_version_gets_a_v0_answer_with_error_35()
    {
        using var socket = await ConnectAsync();
        await socket.SendAsync(ApiVersionsFrame(9, version: 99));
        var frame = await ReadFrameAsync(socket, TimeSpan.FromSeconds(10));
        Assert.NotNull(frame);
        var decoded = ResponseDecoder.Decode(frame, ApiKey.ApiVersions, 0);
        Assert.True(decoded.IsSuccess);
        Assert.Equal(ErrorCode.UNSUPPORTED_VERSION, (ErrorCode)((ApiVersionsResponse)decoded.Response!.Message).ErrorCode);
    }

    [Theory]
    [InlineData(new byte[] { 0x7F, 0xFF, 0xFF, 0xFF })]             // size far above the limit
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xF0 })]             // negative size
    [InlineData(new byte[] { 0, 0, 0, 3, 1, 2, 3 })]                // too short for a header
    [InlineData(new byte[] { 0, 0, 0, 12, 0x7F, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0 })] // unknown api key
    public async Task Malformed_frames_close_only_that_connection(byte[] bad)
    {
        using var healthy = await ConnectAsync();
        using var socket = await ConnectAsync();
        await socket.SendAsync(bad);
        Assert.Null(await ReadFrameAsync(socket, TimeSpan.FromSeconds(10))); // closed, no answer
        await healthy.SendAsync(ApiVersionsFrame(5));
        Assert.Equal(5, BinaryPrimitives.ReadInt32BigEndian((await ReadFrameAsync(healthy, TimeSpan.FromSeconds(10)))!));
    }

    [Fact]
    public async Task A_truncated_frame_then_hang_up_leaves_the_server_serving()
    {
        using (var socket = await ConnectAsync())
        {
            await socket.SendAsync(ApiVersionsFrame(1)[..9]);
        }
        Assert.Equal(0, (await ApiVersionsAsync(77)).ErrorCode);
    }

    /// <summary>
    /// 100,000 frames over many connections: valid requests, random garbage, bit-flipped and truncated valid frames,
    /// huge and negative size prefixes, unknown APIs. Afterwards the server still answers normally.
    /// </summary>
    [Fact]
    public async Task The_server_survives_a_hundred_thousand_random_and_mutated_frames()
    {
        var random = new Random(Environment.GetEnvironmentVariable("KRAFT_FUZZ_SEED") is { } s ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : 1234);
        var templates = new[] { ApiVersionsFrame(1), ApiVersionsFrame(2, 0), ApiVersionsFrame(3, 2) };
        int sent = 0;
        while (sent < 100_000)
        {
            using var socket = await ConnectAsync();
            var payload = new List<byte>();
            int valid = random.Next(0, 40);
            for (int i = 0; i < valid; i++) payload.AddRange(templates[random.Next(templates.Length)]);
            payload.AddRange(Mutate(random, templates[random.Next(templates.Length)]));
            sent += valid + 1;
            try
            {
                await socket.SendAsync(payload.ToArray());
                socket.Shutdown(SocketShutdown.Send);
                var drain = new byte[64 * 1024];
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                while (await socket.ReceiveAsync(drain, SocketFlags.None, cts.Token) > 0) { }
            }
            catch (SocketException)
            {
                // The server closed first: expected for bad frames.
            }
        }
        Assert.True(_handler.Handled > 10_000, $"only {_handler.Handled} requests reached the handler");
        Assert.Equal(0, (await ApiVersionsAsync(4242)).ErrorCode);
    }

    internal static byte[] Mutate(Random random, byte[] valid)
    {
        var frame = (byte[])valid.Clone();
        switch (random.Next(6))
        {
            case 0: // random garbage with a plausible size
            {
                var garbage = new byte[random.Next(4, 200)];
                random.NextBytes(garbage);
                BinaryPrimitives.WriteInt32BigEndian(garbage, garbage.Length - 4);
                return garbage;
            }
            case 1: // bit flips anywhere after the size
                for (int i = 0; i < 1 + random.Next(4); i++) frame[4 + random.Next(frame.Length - 4)] ^= (byte)(1 << random.Next(8));
                return frame;
            case 2: // truncated
                return frame[..random.Next(1, frame.Length)];
            case 3: // a size prefix that lies
                BinaryPrimitives.WriteInt32BigEndian(frame, random.Next(2) == 0 ? -random.Next(1, int.MaxValue) : random.Next(2 << 20, int.MaxValue));
                return frame;
            case 4: // an api key or version that is not served
                BinaryPrimitives.WriteInt16BigEndian(frame.AsSpan(4), (short)random.Next(-5, 2000));
                BinaryPrimitives.WriteInt16BigEndian(frame.AsSpan(6), (short)random.Next(-5, 200));
                return frame;
            default: // pure noise
            {
                var noise = new byte[random.Next(1, 64)];
                random.NextBytes(noise);
                return noise;
            }
        }
    }
}
