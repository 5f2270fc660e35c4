using Kraft.Broker.Network;
using Kraft.Protocol;
using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;

namespace Kraft.Broker.Handlers;

/// <summary>
/// InitProducerId for idempotent producers (KIP-98; transactions are not served): each call hands out a fresh
/// producer id with epoch 0, taken from a block of ids this broker obtained from the active controller with
/// AllocateProducerIds (KIP-730; the controller commits a ProducerIds record per block, so ids are never reused,
/// even across controller failover). The partition leaders then deduplicate by (producer id, epoch, sequence).
/// Thread-safety: any thread; one block refill at a time.
/// </summary>
public sealed class ProducerIdHandler : IKafkaRequestHandler
{
    private readonly int _brokerId;
    private readonly Func<long> _brokerEpoch;
    private readonly Func<AllocateProducerIdsRequest, CancellationToken, Task<AllocateProducerIdsResponse>> _allocate;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private long _next;
    private long _end;

    public ProducerIdHandler(int brokerId, Func<long> brokerEpoch, Func<AllocateProducerIdsRequest, CancellationToken, Task<AllocateProducerIdsResponse>> allocate)
    {
        _brokerId = brokerId;
        _brokerEpoch = brokerEpoch;
        _allocate = allocate;
    }

    /// <summary>Where requests other than InitProducerId go.</summary>
    public IKafkaRequestHandler? Next { get; set; }

    /// <summary>How often a block request is tried before the client gets a retriable error.</summary>
    public int AllocateAttempts { get; init; } = 10;

    public TimeSpan RetryBackoff { get; init; } = TimeSpan.FromMilliseconds(100);

    public ValueTask<IResponseMessage?> HandleAsync(DecodedRequest request, ConnectionInfo connection, CancellationToken cancellationToken) =>
        request.Message switch
        {
            InitProducerIdRequest init => InitAsync(init, cancellationToken),
            _ when Next is not null => Next.HandleAsync(request, connection, cancellationToken),
            _ => throw new NotSupportedException($"{request.Header.ApiKey} is not served by this node"),
        };

    private async ValueTask<IResponseMessage?> InitAsync(InitProducerIdRequest request, CancellationToken cancellationToken)
    {
        if (request.TransactionalId is not null)
        {
            // No transaction coordinator: a transactional producer cannot start. A clear, non-retriable refusal.
            return new InitProducerIdResponse { ErrorCode = (short)ErrorCode.INVALID_REQUEST, ProducerId = -1, ProducerEpoch = -1 };
        }
        long? id = await NextIdAsync(cancellationToken).ConfigureAwait(false);
        return id is { } producerId
            ? new InitProducerIdResponse { ErrorCode = 0, ProducerId = producerId, ProducerEpoch = 0 }
            : new InitProducerIdResponse { ErrorCode = (short)ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ProducerId = -1, ProducerEpoch = -1 };
    }

    /// <summary>The next unused id, refilling the block from the controller when it is used up; null if that failed.</summary>
    private async Task<long?> NextIdAsync(CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (int attempt = 0; _next >= _end; attempt++)
            {
                if (attempt >= AllocateAttempts)
                {
                    return null;
                }
                if (attempt > 0)
                {
                    await Task.Delay(RetryBackoff, cancellationToken).ConfigureAwait(false);
                }
                try
                {
                    var block = await _allocate(new AllocateProducerIdsRequest { BrokerId = _brokerId, BrokerEpoch = _brokerEpoch() }, cancellationToken).ConfigureAwait(false);
                    if (block.ErrorCode == 0 && block.ProducerIdLen > 0)
                    {
                        _next = block.ProducerIdStart;
                        _end = block.ProducerIdStart + block.ProducerIdLen;
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // The controller moved or is unreachable: try again after the back-off.
                }
            }
            return _next++;
        }
        finally
        {
            _lock.Release();
        }
    }
}
