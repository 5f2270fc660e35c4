using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using Kraft.Quorum.Raft;
using Kraft.Quorum.RaftDriver;
using Microsoft.Extensions.Logging;

namespace Kraft.Broker.RaftTransport;

/// <summary>
/// Sends Raft messages to other controllers over TCP. One outbound connection per peer carries only
/// this node's messages to that peer (requests and responses alike); the peer answers over its own
/// outbound connection to us, received by a <see cref="RaftTcpListener"/>. Wire format of a connection:
/// <code>
/// "KRFT" (4 bytes) [fromNodeId int32] then repeated [size int32][RaftMessageCodec bytes of that size]
/// </code>
/// Each peer has a bounded queue (<see cref="PeerQueueCapacity"/>). When it is full the OLDEST queued
/// message is dropped: Raft retries on its own timers, and the newest message carries the freshest
/// state (epoch, fetch offset), so keeping it shortens recovery. A broken connection is re-opened with
/// exponential back-off (<see cref="ReconnectBackoffMinMs"/> to <see cref="ReconnectBackoffMaxMs"/>); messages
/// written to a connection that then fails are lost, which Raft tolerates.
/// <para>Observers (broker-only nodes, KIP-595) are not in <c>controller.quorum.voters</c>, so a voter does not know
/// their address. Two rules make that work without one: (1) every outbound connection is also read, so a peer may
/// answer on it; (2) a listener registers each inbound connection as the return path to the node that opened it
/// (<see cref="RegisterReturnPath"/>), and messages to a node without a known address are written to its latest
/// return path. An observer therefore dials the voters it knows and receives the leader's Fetch responses (and
/// BeginQuorumEpoch) on the same connection, as Kafka's observers receive responses on their own requests.</para>
/// Thread-safety: <see cref="Send"/> may be called from any thread and never blocks.
/// </summary>
public sealed partial class RaftTcpTransport : IRaftTransport, IAsyncDisposable
{
    /// <summary>The 4 bytes that open every Raft connection (lets one port serve Kafka and Raft).</summary>
    public static ReadOnlySpan<byte> Magic => "KRFT"u8;

    /// <summary>The largest frame sent or accepted (a fetch response or snapshot chunk is far smaller).</summary>
    public const int MaxFrameBytes = 64 << 20;

    private readonly NodeId _self;
    private readonly Func<NodeId, (string Host, int Port)?> _addressOf;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<NodeId, Peer> _peers = new();
    private readonly ConcurrentDictionary<NodeId, Socket> _returnPaths = new();
    private readonly CancellationTokenSource _stopping = new();
    private long _dropped;
    private int _disposed;

    /// <summary>Creates the transport; <paramref name="addressOf"/> returns null for a node whose address is unknown (its messages are dropped).</summary>
    public RaftTcpTransport(NodeId self, Func<NodeId, (string Host, int Port)?> addressOf, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(addressOf);
        ArgumentNullException.ThrowIfNull(logger);
        _self = self;
        _addressOf = addressOf;
        _logger = logger;
    }

    /// <summary>Messages waiting for one peer beyond this many push out the oldest.</summary>
    public int PeerQueueCapacity { get; init; } = 1024;

    /// <summary>First reconnect delay after a failed connection.</summary>
    public int ReconnectBackoffMinMs { get; init; } = 20;

    /// <summary>Largest reconnect delay.</summary>
    public int ReconnectBackoffMaxMs { get; init; } = 1000;

    /// <summary>How long a connection attempt may take.</summary>
    public int ConnectTimeoutMs { get; init; } = 2000;

    /// <summary>
    /// The local address outbound connections bind to (null: the kernel picks). Set to the node's controller
    /// listener address when that is one specific address, so that peers (and firewall rules) see it as the source.
    /// </summary>
    public System.Net.IPAddress? LocalAddress { get; init; }

    /// <summary>Receives every message the listeners decode; set it to the driver's Deliver.</summary>
    public Action<RaftMessage>? OnReceive { get; set; }

    /// <summary>This node's id (sent after the magic on every outbound connection).</summary>
    public NodeId Self => _self;

    /// <summary>Messages dropped: queue full, unknown address, to itself, or too large.</summary>
    public long DroppedMessages => Interlocked.Read(ref _dropped);

    /// <inheritdoc />
    public void Send(RaftMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.To == _self || Volatile.Read(ref _disposed) != 0)
        {
            Interlocked.Increment(ref _dropped);
            return;
        }
        var peer = _peers.GetOrAdd(message.To, id => StartPeer(id));
        peer.Enqueue(message);
    }

    /// <summary>Called by listeners for every decoded inbound message.</summary>
    internal void Receive(RaftMessage message) => OnReceive?.Invoke(message);

    /// <summary>
    /// Records <paramref name="socket"/>, an inbound connection opened by <paramref name="from"/>, as the way to reach
    /// that node when its address is unknown (an observer). The newest connection wins.
    /// </summary>
    public void RegisterReturnPath(NodeId from, Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        _returnPaths[from] = socket;
    }

    /// <summary>Forgets <paramref name="socket"/> as the return path to <paramref name="from"/> (the connection closed).</summary>
    public void UnregisterReturnPath(NodeId from, Socket socket) =>
        _returnPaths.TryRemove(new KeyValuePair<NodeId, Socket>(from, socket));

    /// <summary>Nodes reachable only through a connection they opened (observers, as seen by a voter).</summary>
    public IReadOnlyCollection<NodeId> ReturnPathNodes => [.. _returnPaths.Keys];

    private Peer StartPeer(NodeId id)
    {
        var peer = new Peer(id, this);
        peer.Run = Task.Run(() => peer.RunAsync(_stopping.Token));
        return peer;
    }

    /// <summary>Closes every outbound connection and stops reconnecting.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var peer in _peers.Values)
        {
            peer.Complete();
            try
            {
                if (peer.Run is { } run) await run.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopping.
            }
        }
        _stopping.Dispose();
    }

    /// <summary>One peer: its queue and the task that keeps a connection to it.</summary>
    private sealed class Peer(NodeId id, RaftTcpTransport owner)
    {
        private readonly Channel<RaftMessage> _queue = Channel.CreateBounded<RaftMessage>(
            new BoundedChannelOptions(owner.PeerQueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.DropOldest },
            _ => Interlocked.Increment(ref owner._dropped));

        public Task? Run { get; set; }

        public void Enqueue(RaftMessage message) => _queue.Writer.TryWrite(message);

        public void Complete() => _queue.Writer.TryComplete();

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            int backoffMs = owner.ReconnectBackoffMinMs;
            var header = new byte[8];
            Magic.CopyTo(header);
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), owner._self.Value);
            while (!cancellationToken.IsCancellationRequested && await _queue.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var address = owner._addressOf(id);
                if (address is not { } a)
                {
                    if (owner._returnPaths.TryGetValue(id, out var returnPath))
                    {
                        await WriteToReturnPathAsync(returnPath, cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    while (_queue.Reader.TryRead(out _)) Interlocked.Increment(ref owner._dropped);
                    owner.LogUnknownAddress(id);
                    // Messages queued meanwhile are kept: they go out as soon as the node (an observer) connects again.
                    await Task.Delay(owner.ReconnectBackoffMaxMs, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                Task? reading = null;
                try
                {
                    using var socket = owner.LocalAddress is { } local
                        ? new Socket(local.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }
                        : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    if (owner.LocalAddress is { } bindTo) socket.Bind(new System.Net.IPEndPoint(bindTo, 0));
                    using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                    {
                        connectTimeout.CancelAfter(owner.ConnectTimeoutMs);
                        await socket.ConnectAsync(a.Host, a.Port, connectTimeout.Token).ConfigureAwait(false);
                    }
                    owner.LogConnected(id, a.Host, a.Port);
                    // The peer may answer on this connection (it does when it does not know our address: we are an
                    // observer). When the peer closes it, the reader cancels the writer so that we reconnect.
                    using var connection = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    reading = Task.Run(() => ReadAnswersAsync(socket, connection), CancellationToken.None);
                    await using var stream = new NetworkStream(socket, ownsSocket: false);
                    await using var buffered = new BufferedStream(stream, 64 * 1024);
                    await buffered.WriteAsync(header, connection.Token).ConfigureAwait(false);
                    backoffMs = owner.ReconnectBackoffMinMs;
                    do
                    {
                        await WriteQueuedAsync(buffered, connection.Token).ConfigureAwait(false);
                    }
                    while (await _queue.Reader.WaitToReadAsync(connection.Token).ConfigureAwait(false));
                    return; // completed: the transport is being disposed
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
                {
                    owner.LogConnectionFailed(id, a.Host, a.Port, e.Message, backoffMs);
                    await Task.Delay(backoffMs, cancellationToken).ConfigureAwait(false);
                    backoffMs = Math.Min(owner.ReconnectBackoffMaxMs, backoffMs * 2);
                }
#pragma warning disable CA1031 // A peer's sender must survive anything (a bad address, a bug in encoding); it logs and reconnects.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    owner.LogPeerError(e, id);
                    await Task.Delay(owner.ReconnectBackoffMaxMs, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    // The socket is closed by now, so the reader has ended or ends at once.
                    if (reading is not null) await reading.ConfigureAwait(false);
                }
            }
        }

        /// <summary>Writes every queued message as [size][codec bytes] to <paramref name="destination"/> and flushes.</summary>
        private async Task WriteQueuedAsync(Stream destination, CancellationToken cancellationToken)
        {
            var sizePrefix = new byte[4];
            while (_queue.Reader.TryRead(out var message))
            {
                byte[] bytes = RaftMessageCodec.Encode(message);
                if (bytes.Length > MaxFrameBytes)
                {
                    Interlocked.Increment(ref owner._dropped);
                    owner.LogOversized(message.GetType().Name, id, bytes.Length);
                    continue;
                }
                BinaryPrimitives.WriteInt32BigEndian(sizePrefix, bytes.Length);
                await destination.WriteAsync(sizePrefix, cancellationToken).ConfigureAwait(false);
                await destination.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            }
            await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        /// <summary>
        /// Sends the queue over a connection <paramref name="returnPath"/> that the peer opened (it is an observer whose
        /// address we do not know). The listener that reads that socket owns it; we only write, from this task alone.
        /// A failed write forgets the path: the observer reconnects and registers a new one.
        /// </summary>
        private async Task WriteToReturnPathAsync(Socket returnPath, CancellationToken cancellationToken)
        {
            try
            {
                await using var stream = new NetworkStream(returnPath, ownsSocket: false);
                await using var buffered = new BufferedStream(stream, 64 * 1024);
                await WriteQueuedAsync(buffered, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
            {
                owner.UnregisterReturnPath(id, returnPath);
            }
        }

        /// <summary>
        /// Reads what the peer sends back on our outbound connection ([size][codec bytes], from the peer only) and
        /// delivers it. Ends, cancelling <paramref name="connection"/>, when the socket closes or sends garbage.
        /// </summary>
        private async Task ReadAnswersAsync(Socket socket, CancellationTokenSource connection)
        {
            try
            {
                await using var stream = new NetworkStream(socket, ownsSocket: false);
                var four = new byte[4];
                while (!connection.IsCancellationRequested)
                {
                    await stream.ReadExactlyAsync(four, connection.Token).ConfigureAwait(false);
                    int size = BinaryPrimitives.ReadInt32BigEndian(four);
                    if (size <= 0 || size > MaxFrameBytes) break;
                    var frame = new byte[size];
                    await stream.ReadExactlyAsync(frame, connection.Token).ConfigureAwait(false);
                    if (!RaftMessageCodec.TryDecode(frame, out var message, out _) || message!.From != id) break;
                    owner.Receive(message);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or EndOfStreamException)
            {
                // The connection ended; the writer reconnects.
            }
#pragma warning disable CA1031 // The reader must end quietly whatever the deliver callback throws; the writer reconnects.
            catch (Exception e)
#pragma warning restore CA1031
            {
                owner.LogPeerError(e, id);
            }
            finally
            {
                try
                {
                    await connection.CancelAsync().ConfigureAwait(false);
                }
                catch (ObjectDisposedException)
                {
                }
            }
        }
    }

    [LoggerMessage(EventId = 3100, Level = LogLevel.Debug, Message = "Raft transport: connected to node {NodeId} at {Host}:{Port}")]
    private partial void LogConnected(NodeId nodeId, string host, int port);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Debug, Message = "Raft transport: connection to node {NodeId} at {Host}:{Port} failed ({Reason}); retrying in {BackoffMs} ms")]
    private partial void LogConnectionFailed(NodeId nodeId, string host, int port, string reason, int backoffMs);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Error, Message = "Raft transport: dropping a {MessageType} to node {NodeId}: {Size} bytes exceeds the frame limit")]
    private partial void LogOversized(string messageType, NodeId nodeId, int size);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Error, Message = "Raft transport: unexpected error sending to node {NodeId}; reconnecting")]
    private partial void LogPeerError(Exception exception, NodeId nodeId);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "Raft transport: no address known for node {NodeId}; dropping its messages")]
    private partial void LogUnknownAddress(NodeId nodeId);
}
