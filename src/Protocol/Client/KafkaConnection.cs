using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net.Sockets;
using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;
using Kraft.Protocol.Primitives;

namespace Kraft.Protocol.Client;

/// <summary>Thrown by the client when a connection fails, a response cannot be parsed, or a request times out.</summary>
public sealed class KafkaClientException : Exception
{
    public KafkaClientException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>
/// One TCP connection to a Kafka (or Kraft) node: pipelined requests matched to responses by correlation id.
/// </summary>
/// <remarks>
/// Role: the transport under <see cref="KafkaClient"/>; usable alone by tests and tools.
/// Invariants: frames are written whole and one at a time (a write lock), so concurrent callers interleave
/// requests, never bytes; every pending request is completed exactly once: by its response, its timeout or
/// cancellation, or the connection's failure. Once the read loop fails the connection is dead and every later
/// call fails fast; callers open a new connection.
/// Threads: any thread may send; one background task reads responses.
/// </remarks>
public sealed class KafkaConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly KafkaClientOptions _options;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<int, Pending> _pending = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Task _readLoop;
    private readonly Dictionary<ApiKey, short> _versions = new();
    private int _nextCorrelationId;
    private Exception? _failure;

    private sealed record Pending(ApiKey ApiKey, short Version, TaskCompletionSource<ReadOnlyMemory<byte>> Completion);

    private KafkaConnection(Socket socket, string address, KafkaClientOptions options)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _input = PipeReader.Create(_stream);
        _output = PipeWriter.Create(_stream);
        _options = options;
        Address = address;
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>"host:port" this connection was opened to.</summary>
    public string Address { get; }

    /// <summary>The version chosen for each API after ApiVersions negotiation (empty if negotiation was skipped).</summary>
    public IReadOnlyDictionary<ApiKey, short> NegotiatedVersions => _versions;

    /// <summary>The broker's own ApiVersions table, as it answered.</summary>
    public ApiVersionsResponse? BrokerApiVersions { get; private set; }

    public bool IsAlive => _failure is null && !_shutdown.IsCancellationRequested;

    /// <summary>
    /// Connects to <paramref name="host"/>:<paramref name="port"/> and, unless the options say otherwise,
    /// negotiates API versions before returning.
    /// </summary>
    public static async Task<KafkaConnection> ConnectAsync(string host, int port, KafkaClientOptions options, CancellationToken cancellationToken)
    {
        var socket = options.LocalAddress is { } local
            ? new Socket(local.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (options.LocalAddress is { } bindTo)
            {
                socket.Bind(new System.Net.IPEndPoint(bindTo, 0));
            }

            using var timer = new CancellationTokenSource(options.ConnectTimeout, options.TimeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
            await socket.ConnectAsync(host, port, linked.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new KafkaClientException($"cannot connect to {host}:{port}: {e.Message}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var connection = new KafkaConnection(socket, $"{host}:{port}", options);
        if (options.NegotiateApiVersions)
        {
            try
            {
                await connection.NegotiateAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        return connection;
    }

    /// <summary>
    /// Sends ApiVersions at our highest version; a broker that does not serve that version answers at v0 with
    /// UNSUPPORTED_VERSION and its table, and we retry at the highest version it lists.
    /// </summary>
    private async Task NegotiateAsync(CancellationToken cancellationToken)
    {
        short version = ApiVersionsRequest.HighestVersion;
        for (int attempt = 0; attempt < 2; attempt++)
        {
            var request = new ApiVersionsRequest
            {
                ClientSoftwareName = _options.ClientSoftwareName,
                ClientSoftwareVersion = _options.ClientSoftwareVersion,
            };
            var frame = await SendRawAsync(request, version, cancellationToken).ConfigureAwait(false);
            var decoded = ResponseDecoder.Decode(frame, ApiKey.ApiVersions, version);
            var response = decoded.Response?.Message as ApiVersionsResponse;
            if (response is null || response.ErrorCode == (short)ErrorCode.UNSUPPORTED_VERSION)
            {
                // The error reply is always encoded at v0, whatever version we asked with.
                var fallback = ResponseDecoder.Decode(frame, ApiKey.ApiVersions, 0).Response?.Message as ApiVersionsResponse
                    ?? throw new KafkaClientException($"{Address}: unreadable ApiVersions response");
                var theirs = fallback.ApiKeys.FirstOrDefault(k => k.ApiKey == (short)ApiKey.ApiVersions);
                short? retry = theirs is null ? null
                    : ApiVersionsTable.Negotiate(ApiVersionsRequest.LowestVersion, ApiVersionsRequest.HighestVersion, theirs.MinVersion, theirs.MaxVersion);
                if (retry is null || retry == version)
                {
                    throw new KafkaClientException($"{Address}: no common ApiVersions version");
                }

                version = retry.Value;
                continue;
            }

            if (response.ErrorCode != 0)
            {
                throw new KafkaClientException($"{Address}: ApiVersions failed with {(ErrorCode)response.ErrorCode}");
            }

            BrokerApiVersions = response;
            foreach (var codec in MessageFactory.Codecs)
            {
                var theirs = response.ApiKeys.FirstOrDefault(k => k.ApiKey == (short)codec.ApiKey);
                if (theirs is not null
                    && ApiVersionsTable.Negotiate(codec.LowestVersion, codec.HighestVersion, theirs.MinVersion, theirs.MaxVersion) is { } chosen)
                {
                    _versions[codec.ApiKey] = chosen;
                }
            }

            return;
        }

        throw new KafkaClientException($"{Address}: ApiVersions negotiation did not converge");
    }

    /// <summary>
    /// The version to use for <paramref name="apiKey"/>: the negotiated one, or the codec's highest when
    /// negotiation was skipped. Throws when the broker serves no version we can encode.
    /// </summary>
    public short VersionFor(ApiKey apiKey)
    {
        if (_versions.TryGetValue(apiKey, out var version))
        {
            return version;
        }

        if (BrokerApiVersions is null && MessageFactory.Codecs.FirstOrDefault(c => c.ApiKey == apiKey) is { ApiKey: var key } codec && key == apiKey)
        {
            return codec.HighestVersion;
        }

        throw new KafkaClientException($"{Address}: the broker serves no version of {apiKey} that Kraft can encode");
    }

    /// <summary>
    /// Sends a request and returns its typed response. The version is the negotiated one unless given.
    /// </summary>
    public async Task<TResponse> SendAsync<TResponse>(IRequestMessage request, short? version = null, CancellationToken cancellationToken = default)
        where TResponse : class, IResponseMessage
    {
        short v = version ?? VersionFor(request.ApiKey);
        var frame = await SendRawAsync(request, v, cancellationToken).ConfigureAwait(false);
        var decoded = ResponseDecoder.Decode(frame, request.ApiKey, v);
        if (decoded.Response is null)
        {
            throw new KafkaClientException($"{Address}: {decoded.Error!.Detail}");
        }

        return decoded.Response.Message as TResponse
            ?? throw new KafkaClientException($"{Address}: {request.ApiKey} answered with {decoded.Response.Message.GetType().Name}");
    }

    /// <summary>
    /// Sends a request that gets no response (Produce with acks=0): returns once the frame is flushed.
    /// </summary>
    public async Task SendOneWayAsync(IRequestMessage request, short? version = null, CancellationToken cancellationToken = default)
    {
        short v = version ?? VersionFor(request.ApiKey);
        int correlationId = Interlocked.Increment(ref _nextCorrelationId);
        await WriteFrameAsync(new RequestHeader(request.ApiKey, v, correlationId, _options.ClientId), request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends a request and returns the raw response frame (correlation id first), undecoded.</summary>
    public async Task<ReadOnlyMemory<byte>> SendRawAsync(IRequestMessage request, short version, CancellationToken cancellationToken = default)
    {
        ThrowIfDead();
        int correlationId = Interlocked.Increment(ref _nextCorrelationId);
        var pending = new Pending(request.ApiKey, version, new TaskCompletionSource<ReadOnlyMemory<byte>>(TaskCreationOptions.RunContinuationsAsynchronously));
        _pending[correlationId] = pending;
        using var timer = new CancellationTokenSource(_options.RequestTimeout, _options.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token, timer.Token);
        try
        {
            await WriteFrameAsync(new RequestHeader(request.ApiKey, version, correlationId, _options.ClientId), request, linked.Token).ConfigureAwait(false);
            return await pending.Completion.Task.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            if (timer.IsCancellationRequested)
            {
                throw new KafkaClientException($"{Address}: {request.ApiKey} v{version} timed out after {_options.RequestTimeout}", e);
            }

            throw new KafkaClientException($"{Address}: connection closed", _failure ?? e);
        }
        finally
        {
            // A late response for a request we gave up on is dropped by the read loop.
            _pending.TryRemove(correlationId, out _);
        }
    }

    private async Task WriteFrameAsync(RequestHeader header, IRequestMessage request, CancellationToken cancellationToken)
    {
        using var writer = new KafkaWriter();
        FrameEncoder.WriteRequest(writer, header, request);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfDead();
            await _output.WriteAsync(writer.WrittenMemory, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            Fail(e);
            throw new KafkaClientException($"{Address}: write failed: {e.Message}", e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        var frames = new FrameReader(_options.MaxResponseBytes);
        try
        {
            while (!_shutdown.IsCancellationRequested)
            {
                var result = await _input.ReadAsync(_shutdown.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                while (true)
                {
                    var status = frames.TryReadFrame(ref buffer, out var frame, out var error);
                    if (status == FrameStatus.Incomplete)
                    {
                        break;
                    }

                    if (status == FrameStatus.Invalid)
                    {
                        throw new KafkaClientException($"{Address}: bad response frame: {error}");
                    }

                    if (ResponseDecoder.PeekCorrelationId(frame.Span) is { } id && _pending.TryRemove(id, out var pending))
                    {
                        pending.Completion.TrySetResult(frame);
                    }
                }

                _input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    throw new KafkaClientException($"{Address}: connection closed by peer");
                }
            }
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
            Fail(new KafkaClientException($"{Address}: connection closed"));
        }
        catch (Exception e)
        {
            Fail(e);
        }
    }

    private void Fail(Exception e)
    {
        Interlocked.CompareExchange(ref _failure, e, null);
        foreach (var id in _pending.Keys)
        {
            if (_pending.TryRemove(id, out var pending))
            {
                pending.Completion.TrySetException(new KafkaClientException($"{Address}: connection failed: {e.Message}", e));
            }
        }
    }

    private void ThrowIfDead()
    {
        if (_failure is { } failure)
        {
            throw new KafkaClientException($"{Address}: connection failed: {failure.Message}", failure);
        }

        ObjectDisposedException.ThrowIf(_shutdown.IsCancellationRequested, this);
    }

    public async ValueTask DisposeAsync()
    {
        if (_shutdown.IsCancellationRequested)
        {
            return;
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already closed by the peer; nothing to shut down.
        }

        try
        {
#pragma warning disable VSTHRD003 // This object's constructor started the read loop; waiting for it here cannot deadlock.
            await _readLoop.ConfigureAwait(false);
#pragma warning restore VSTHRD003
        }
        catch (Exception)
        {
            // The read loop records its own failure; disposal only waits for it to stop.
        }

        // Only now that the read loop has stopped may the reader be completed (pipes are not safe for a
        // reader and a completer on two threads); writers finish under the write lock for the same reason.
        await _input.CompleteAsync().ConfigureAwait(false);
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await _output.CompleteAsync().ConfigureAwait(false);
        }
        catch (IOException)
        {
            // Every write is flushed as it is made, so nothing is lost if the socket is already gone.
        }
        finally
        {
            _writeLock.Release();
        }

        await _stream.DisposeAsync().ConfigureAwait(false);

        // The lock and the token source stay undisposed on purpose: a caller racing with disposal may still
        // touch them, and they hold no unmanaged resources (no wait handle, no timer).
    }
}
