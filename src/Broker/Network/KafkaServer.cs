using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Kraft.Protocol;
using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;
using Kraft.Protocol.Primitives;
using Microsoft.Extensions.Logging;

namespace Kraft.Broker.Network;

/// <summary>Handles one decoded request; returns the response body, or null to send nothing (Produce with acks=0).</summary>
public interface IKafkaRequestHandler
{
    ValueTask<IResponseMessage?> HandleAsync(DecodedRequest request, ConnectionInfo connection, CancellationToken cancellationToken);
}

/// <summary>Who is on the other end of a connection.</summary>
public sealed record ConnectionInfo(long Id, EndPoint? Remote);

/// <summary>Limits that keep one peer from taking the node's memory or sockets.</summary>
public sealed record ServerLimits
{
    /// <summary>socket.request.max.bytes: the largest request frame accepted (Kafka: 100 MiB).</summary>
    public int MaxFrameBytes { get; init; } = FrameReader.DefaultMaxFrameBytes;

    /// <summary>max.connections: accepted connections beyond this are closed at once.</summary>
    public int MaxConnections { get; init; } = 1000;
}

/// <summary>
/// A TCP server for the Kafka protocol: size-prefixed frames over System.IO.Pipelines, one connection at a time
/// per task. Requests on one connection are handled in order and answered in order (Kafka's guarantee), so
/// at most one request per connection is in flight and buffered memory per connection is bounded by the frame
/// limit. Malformed input (bad size prefix, garbage, truncated or undecodable frames, unknown APIs) closes that
/// connection with a log line; other connections are unaffected and nothing is written anywhere.
/// An unsupported ApiVersions version is answered in v0 with UNSUPPORTED_VERSION so the client can retry.
/// Thread-safety: Start once; Dispose stops accepting and closes every connection.
/// </summary>
public sealed partial class KafkaServer : IAsyncDisposable
{
    private readonly IPEndPoint _endpoint;
    private readonly ApiVersionsTable _apis;
    private readonly IKafkaRequestHandler _handler;
    private readonly ILogger _logger;
    private readonly ServerLimits _limits;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Dictionary<long, Socket> _connections = [];
    private readonly Lock _lock = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private long _nextConnectionId;

    public KafkaServer(IPEndPoint endpoint, ApiVersionsTable apis, IKafkaRequestHandler handler, ILogger logger, ServerLimits? limits = null)
    {
        _endpoint = endpoint;
        _apis = apis;
        _handler = handler;
        _logger = logger;
        _limits = limits ?? new ServerLimits();
    }

    /// <summary>
    /// When set, a connection whose first four bytes are "KRFT" is handed to this handler (the Raft transport) with
    /// those bytes still unread, so the controller listener carries both Raft traffic and Kafka RPCs on one port.
    /// (As a Kafka size prefix those bytes would mean 1.26 GB, far above any frame limit, so nothing is ambiguous.)
    /// </summary>
    public Func<Socket, CancellationToken, Task>? RaftConnectionHandler { get; init; }

    /// <summary>The address actually bound (port 0 picks a free one).</summary>
    public IPEndPoint BoundEndpoint => (IPEndPoint)(_listener?.LocalEndPoint ?? _endpoint);

    public int ConnectionCount { get { lock (_lock) { return _connections.Count; } } }

    public void Start()
    {
        var listener = new Socket(_endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Bind(_endpoint);
        listener.Listen(512);
        _listener = listener;
        _acceptLoop = AcceptLoopAsync(_stopping.Token);
        LogListening(BoundEndpoint);
    }

    private async Task AcceptLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener!.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                LogAcceptFailed(e.SocketErrorCode);
                continue;
            }
            socket.NoDelay = true;
            long id = Interlocked.Increment(ref _nextConnectionId);
            lock (_lock)
            {
                if (_connections.Count >= _limits.MaxConnections)
                {
                    LogTooManyConnections(socket.RemoteEndPoint, _limits.MaxConnections);
                    socket.Dispose();
                    continue;
                }
                _connections[id] = socket;
            }
            _ = Task.Run(() => ServeAsync(id, socket, cancellationToken), CancellationToken.None);
        }
    }

    private static ReadOnlySpan<byte> RaftMagic => "KRFT"u8;

    private async Task ServeAsync(long id, Socket socket, CancellationToken cancellationToken)
    {
        if (RaftConnectionHandler is not null && await StartsWithRaftMagicAsync(socket, cancellationToken).ConfigureAwait(false))
        {
            lock (_lock)
            {
                _connections.Remove(id);
            }
            try
            {
                await RaftConnectionHandler(socket, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogBadFrame(socket.RemoteEndPoint, "raft connection failed: " + e.Message);
                socket.Dispose();
            }
            return;
        }
        var connection = new ConnectionInfo(id, socket.RemoteEndPoint);
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024));
        var frames = new FrameReader(_limits.MaxFrameBytes);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var read = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                var buffer = read.Buffer;
                bool close = false;
                while (!close)
                {
                    var status = frames.TryReadFrame(ref buffer, out var frame, out string? error);
                    if (status == FrameStatus.Incomplete)
                    {
                        break;
                    }
                    if (status == FrameStatus.Invalid)
                    {
                        LogBadFrame(connection.Remote, error ?? "invalid frame");
                        close = true;
                        break;
                    }
                    // FrameReader copies each frame out of the pipe into an array of its own, which the request (and a
                    // leader rewriting offsets in place) may keep: no second copy here.
                    close = !await HandleFrameAsync(frame, stream, connection, cancellationToken).ConfigureAwait(false);
                }
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (close || read.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (IOException)
        {
            // The peer went away.
        }
        catch (SocketException)
        {
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            lock (_lock)
            {
                _connections.Remove(id);
            }
        }
    }

    /// <summary>Peeks (without consuming) at the first four bytes; false for anything that is not the Raft magic.</summary>
    private static async Task<bool> StartsWithRaftMagicAsync(Socket socket, CancellationToken cancellationToken)
    {
        var peek = new byte[4];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            for (int attempt = 0; attempt < 200; attempt++)
            {
                int n = await socket.ReceiveAsync(peek, SocketFlags.Peek, timeout.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    return false;
                }
                if (!peek.AsSpan(0, n).SequenceEqual(RaftMagic[..n]))
                {
                    return false;
                }
                if (n == 4)
                {
                    return true;
                }
                await Task.Delay(5, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
        catch (SocketException)
        {
        }
        return false;
    }

    /// <summary>Decodes, handles and answers one frame; false closes the connection.</summary>
    private async Task<bool> HandleFrameAsync(ReadOnlyMemory<byte> frame, NetworkStream stream, ConnectionInfo connection, CancellationToken cancellationToken)
    {
        var decoded = RequestDecoder.Decode(frame, _apis);
        if (!decoded.IsSuccess)
        {
            var error = decoded.Error!;
            if (error.Kind == DecodeErrorKind.UnsupportedVersion && error.Header is { ApiKey: ApiKey.ApiVersions } header)
            {
                using var writer = new KafkaWriter();
                _apis.WriteUnsupportedVersionResponse(writer, header.CorrelationId);
                await stream.WriteAsync(writer.WrittenMemory, cancellationToken).ConfigureAwait(false);
                return true;
            }
            LogUndecodable(connection.Remote, error.Kind, error.Detail);
            return false;
        }

        var request = decoded.Request!;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        IResponseMessage? response;
        try
        {
            response = await _handler.HandleAsync(request, connection, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A handler bug must not take the node down; the client sees the connection close and retries.
            LogHandlerFailed(e, request.Header.ApiKey, request.Header.ApiVersion);
            return false;
        }
        Observability.BrokerMetrics.RecordRequest(request.Header.ApiKey, started);
        if (response is null)
        {
            return true;
        }
        using var output = new KafkaWriter(512);
        FrameEncoder.WriteResponse(output, request.Header.ApiVersion, request.Header.CorrelationId, response);
        await stream.WriteAsync(output.WrittenMemory, cancellationToken).ConfigureAwait(false);
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        List<Socket> open;
        lock (_lock)
        {
            open = [.. _connections.Values];
        }
        foreach (var socket in open)
        {
            try { socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
            socket.Dispose();
        }
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        _stopping.Dispose();
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Kafka listener on {Endpoint}")]
    private partial void LogListening(IPEndPoint endpoint);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Accept failed: {Error}")]
    private partial void LogAcceptFailed(SocketError error);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Closing connection from {Remote}: more than {Max} connections")]
    private partial void LogTooManyConnections(EndPoint? remote, int max);

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Closing connection from {Remote}: {Reason}")]
    private partial void LogBadFrame(EndPoint? remote, string reason);

    [LoggerMessage(EventId = 104, Level = LogLevel.Warning, Message = "Closing connection from {Remote}: undecodable request ({Kind}): {Detail}")]
    private partial void LogUndecodable(EndPoint? remote, DecodeErrorKind kind, string detail);

    [LoggerMessage(EventId = 105, Level = LogLevel.Error, Message = "Handler for {ApiKey} v{Version} failed; closing the connection")]
    private partial void LogHandlerFailed(Exception exception, ApiKey apiKey, short version);
}
