using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;
using Kraft.Protocol.Primitives;

namespace Kraft.Protocol.Tests;

/// <summary>
/// A loopback server on an ephemeral port that decodes requests with the library and answers with whatever the
/// test's handler returns (null: no answer). Each request is handled concurrently, so a test can hold one
/// answer back and see later ones overtake it.
/// </summary>
internal sealed class FakeKafkaServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<DecodedRequest, Task<IResponseMessage?>> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _clients = new();
    private readonly Task _acceptLoop;

    public FakeKafkaServer(Func<DecodedRequest, Task<IResponseMessage?>> handler, ApiVersionsTable? table = null)
    {
        _handler = handler;
        Table = table ?? ApiVersionsTable.All;
        _listener.Start();
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public ApiVersionsTable Table { get; }
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public string Address => $"127.0.0.1:{Port}";
    public List<RequestHeader> Received { get; } = new();

    /// <summary>The standard answer to ApiVersions (honouring the unsupported-version rule).</summary>
    public static IResponseMessage ApiVersionsAnswer(ApiVersionsTable table) => table.CreateResponse();

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var socket = await _listener.AcceptSocketAsync(_stop.Token);
                lock (_clients)
                {
                    _clients.Add(socket);
                }

                _ = Task.Run(() => ServeAsync(socket));
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (SocketException)
        {
        }
    }

    /// <summary>Closes every accepted connection (the client sees the peer hang up).</summary>
    public void DropConnections()
    {
        lock (_clients)
        {
            foreach (var socket in _clients)
            {
                socket.Close();
            }

            _clients.Clear();
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        var input = PipeReader.Create(stream);
        var writeLock = new SemaphoreSlim(1, 1);
        var frames = new FrameReader();
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(_stop.Token);
                var buffer = result.Buffer;
                while (frames.TryReadFrame(ref buffer, out var frame, out _) == FrameStatus.Complete)
                {
                    var decoded = RequestDecoder.Decode(frame, Table);
                    if (!decoded.IsSuccess)
                    {
                        var header = decoded.Error!.Header!;
                        if (header.ApiKey == ApiKey.ApiVersions)
                        {
                            using var w = new KafkaWriter();
                            Table.WriteUnsupportedVersionResponse(w, header.CorrelationId);
                            await WriteAsync(stream, writeLock, w.ToArray());
                        }

                        continue;
                    }

                    lock (Received)
                    {
                        Received.Add(decoded.Request!.Header);
                    }

                    _ = Task.Run(async () =>
                    {
                        var request = decoded.Request!;
                        var response = await _handler(request);
                        if (response is not null)
                        {
                            var bytes = FrameEncoder.EncodeResponse(request.Header.ApiVersion, request.Header.CorrelationId, response);
                            await WriteAsync(stream, writeLock, bytes);
                        }
                    });
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
        }
    }

    private static async Task WriteAsync(Stream stream, SemaphoreSlim writeLock, byte[] bytes)
    {
        await writeLock.WaitAsync();
        try
        {
            await stream.WriteAsync(bytes);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
        finally
        {
            writeLock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        DropConnections();
#pragma warning disable VSTHRD003 // The constructor started the accept loop; waiting for it on dispose cannot deadlock.
        await _acceptLoop;
#pragma warning restore VSTHRD003
        _stop.Dispose();
    }
}
