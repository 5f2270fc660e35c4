using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Kraft.Quorum.Raft;
using Kraft.Quorum.RaftDriver;
using Microsoft.Extensions.Logging;

namespace Kraft.Broker.RaftTransport;

/// <summary>
/// The receiving side of <see cref="RaftTcpTransport"/>. It can run its own TCP listener
/// (<see cref="Start"/>, port 0 in tests) and/or take over sockets accepted elsewhere whose first
/// 4 bytes were the magic "KRFT" (<see cref="Accept"/>; the controller listener multiplexes Raft with
/// the Kafka protocol on one port that way). After the magic a connection carries
/// [fromNodeId int32] then repeated [size int32][RaftMessageCodec bytes]. Sizes outside
/// 1..<see cref="RaftTcpTransport.MaxFrameBytes"/>, undecodable frames, or a message whose From differs
/// from the connection's node id close that connection with a log line; nothing is delivered from a bad
/// frame. Each connection is read by one task; decoded messages go to the deliver callback in order.
/// </summary>
public sealed partial class RaftTcpListener : IAsyncDisposable
{
    private readonly Action<RaftMessage> _deliver;
    private readonly RaftTcpTransport? _returnPaths;
    private readonly ILogger _logger;
    private readonly int _maxFrameBytes;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<long, (Socket Socket, Task Task)> _connections = [];
    private Socket? _listener;
    private Task? _acceptLoop;
    private long _nextConnectionId;
    private long _closedForBadInput;

    /// <summary>Delivers every decoded message to <paramref name="deliver"/> (e.g. a driver's Deliver).</summary>
    public RaftTcpListener(Action<RaftMessage> deliver, ILogger logger, int maxFrameBytes = RaftTcpTransport.MaxFrameBytes)
    {
        ArgumentNullException.ThrowIfNull(deliver);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFrameBytes, 16);
        _deliver = deliver;
        _logger = logger;
        _maxFrameBytes = maxFrameBytes;
    }

    /// <summary>Delivers every decoded message to <paramref name="transport"/>'s <see cref="RaftTcpTransport.OnReceive"/>.</summary>
    /// <remarks>Each inbound connection is also registered as the transport's return path to the node that opened it,
    /// so that an observer (whose address no voter knows) receives its answers on its own connection.</remarks>
    public RaftTcpListener(RaftTcpTransport transport, ILogger logger)
        : this(m => transport.Receive(m), logger)
    {
        _returnPaths = transport;
    }

    /// <summary>Connections closed because of malformed input.</summary>
    public long ConnectionsClosedForBadInput => Interlocked.Read(ref _closedForBadInput);

    /// <summary>Open inbound connections.</summary>
    public int ConnectionCount { get { lock (_lock) { return _connections.Count; } } }

    /// <summary>Listens on <paramref name="endpoint"/> (port 0 picks a free port) and returns the bound endpoint.</summary>
    public IPEndPoint Start(IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (_listener is not null) throw new InvalidOperationException("already listening");
        var listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(endpoint);
        listener.Listen(128);
        _listener = listener;
        _acceptLoop = Task.Run(() => AcceptLoopAsync(listener, _stopping.Token));
        return (IPEndPoint)listener.LocalEndPoint!;
    }

    /// <summary>
    /// Takes over a socket accepted elsewhere whose 4-byte magic was already read. Bytes the caller read
    /// past the magic (if it buffered) go in <paramref name="alreadyRead"/>. The listener owns the socket from now on.
    /// </summary>
    public void Accept(Socket socket, ReadOnlyMemory<byte> alreadyRead = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        if (_stopping.IsCancellationRequested)
        {
            socket.Dispose();
            return;
        }
        long id = Interlocked.Increment(ref _nextConnectionId);
        lock (_lock)
        {
            _connections[id] = (socket, Task.Run(() => ServeAsync(id, socket, alreadyRead, readMagic: false, _stopping.Token)));
        }
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
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
                _connections[id] = (socket, Task.Run(() => ServeAsync(id, socket, ReadOnlyMemory<byte>.Empty, readMagic: true, cancellationToken)));
            }
        }
    }

    private async Task ServeAsync(long id, Socket socket, ReadOnlyMemory<byte> alreadyRead, bool readMagic, CancellationToken cancellationToken)
    {
        EndPoint? remote = null;
        NodeId? returnPathOf = null;
        try
        {
            remote = socket.RemoteEndPoint;
            await using var stream = new NetworkStream(socket, ownsSocket: true);
            var reader = new FrameSource(stream, alreadyRead);
            var four = new byte[4];
            if (readMagic)
            {
                if (!await reader.ReadExactlyAsync(four, cancellationToken).ConfigureAwait(false)) return;
                if (!four.AsSpan().SequenceEqual(RaftTcpTransport.Magic))
                {
                    Reject(remote, "the connection does not start with the KRFT magic");
                    return;
                }
            }
            if (!await reader.ReadExactlyAsync(four, cancellationToken).ConfigureAwait(false)) return;
            int from = BinaryPrimitives.ReadInt32BigEndian(four);
            if (from < 0)
            {
                Reject(remote, $"negative node id {from}");
                return;
            }
            var fromNode = new NodeId(from);
            _returnPaths?.RegisterReturnPath(fromNode, socket);
            returnPathOf = fromNode;
            while (!cancellationToken.IsCancellationRequested)
            {
                if (!await reader.ReadExactlyAsync(four, cancellationToken).ConfigureAwait(false)) return;
                int size = BinaryPrimitives.ReadInt32BigEndian(four);
                if (size <= 0 || size > _maxFrameBytes)
                {
                    Reject(remote, $"frame size {size} outside 1..{_maxFrameBytes}");
                    return;
                }
                var frame = new byte[size];
                if (!await reader.ReadExactlyAsync(frame, cancellationToken).ConfigureAwait(false))
                {
                    Reject(remote, "connection closed inside a frame");
                    return;
                }
                if (!RaftMessageCodec.TryDecode(frame, out var message, out string? error))
                {
                    Reject(remote, $"undecodable frame: {error}");
                    return;
                }
                if (message!.From != fromNode)
                {
                    Reject(remote, $"message from node {message.From} on node {fromNode}'s connection");
                    return;
                }
                _deliver(message);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer went away or we are stopping; it reconnects on its own.
        }
#pragma warning disable CA1031 // One connection's failure (e.g. in the deliver callback) must not take down the listener.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogConnectionError(e, remote);
        }
        finally
        {
            if (returnPathOf is { } node) _returnPaths?.UnregisterReturnPath(node, socket);
            socket.Dispose();
            lock (_lock)
            {
                _connections.Remove(id);
            }
        }
    }

    private void Reject(EndPoint? remote, string reason)
    {
        Interlocked.Increment(ref _closedForBadInput);
        LogBadInput(remote, reason);
    }

    /// <summary>Stops listening and closes every inbound connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested) return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
#pragma warning disable VSTHRD003 // The accept loop was started by this listener.
        if (_acceptLoop is not null) await _acceptLoop.ConfigureAwait(false);
#pragma warning restore VSTHRD003
        List<(Socket Socket, Task Task)> open;
        lock (_lock)
        {
            open = [.. _connections.Values];
        }
        foreach (var (socket, _) in open) socket.Dispose();
        foreach (var (_, task) in open)
        {
#pragma warning disable VSTHRD003 // The connection tasks were started by this listener.
            await task.ConfigureAwait(false);
#pragma warning restore VSTHRD003
        }
        _stopping.Dispose();
    }

    /// <summary>Reads exact byte counts from a stream, first consuming bytes a caller had already read.</summary>
    private sealed class FrameSource(Stream stream, ReadOnlyMemory<byte> prefix)
    {
        private ReadOnlyMemory<byte> _prefix = prefix;

        /// <summary>Fills <paramref name="buffer"/>; false at a clean end of stream before the first byte or inside it.</summary>
        public async ValueTask<bool> ReadExactlyAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            int filled = 0;
            if (!_prefix.IsEmpty)
            {
                int n = Math.Min(_prefix.Length, buffer.Length);
                _prefix[..n].CopyTo(buffer);
                _prefix = _prefix[n..];
                filled = n;
            }
            while (filled < buffer.Length)
            {
                int n = await stream.ReadAsync(buffer[filled..], cancellationToken).ConfigureAwait(false);
                if (n == 0) return false;
                filled += n;
            }
            return true;
        }
    }

    [LoggerMessage(EventId = 3110, Level = LogLevel.Warning, Message = "Raft listener: accept failed: {Error}")]
    private partial void LogAcceptFailed(SocketError error);

    [LoggerMessage(EventId = 3112, Level = LogLevel.Error, Message = "Raft listener: connection from {Remote} failed unexpectedly; closing it")]
    private partial void LogConnectionError(Exception exception, EndPoint? remote);

    [LoggerMessage(EventId = 3111, Level = LogLevel.Warning, Message = "Raft listener: closing connection from {Remote}: {Reason}")]
    private partial void LogBadInput(EndPoint? remote, string reason);
}
