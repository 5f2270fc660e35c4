using Kraft.Broker.Controller;
using Kraft.Broker.Replication;
using Kraft.Protocol;
using Kraft.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace Kraft.Broker.Node;

/// <summary>
/// The broker's side of its lease with the controller (KIP-631): register with a fresh incarnation id, then
/// heartbeat every broker.heartbeat.interval.ms reporting how far this broker has applied the metadata log (the
/// controller unfences it once caught up and fences it after broker.session.timeout.ms of silence). Also sends the
/// ISR changes partition leaders ask for (AlterPartition), and on shutdown asks for a controlled shutdown so that
/// leadership moves away before the process stops.
/// Thread-safety: one background loop; <see cref="RequestIsrChange"/> may be called from any thread.
/// </summary>
public sealed partial class BrokerLifecycle : IAsyncDisposable
{
    private readonly int _brokerId;
    private readonly string _clusterId;
    private readonly IReadOnlyList<BrokerRegistrationRequest.Listener> _listeners;
    private readonly string? _rack;
    private readonly ControllerChannel _controller;
    private readonly Func<long> _appliedMetadataOffset;
    private readonly TimeSpan _heartbeatInterval;
    private readonly ILogger _logger;
    private readonly Guid _incarnation = Guid.NewGuid();
    private readonly Func<string, Guid> _topicIdOf;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<(string, int), (Partition Partition, AlterIsrRequest Request)> _isrChanges = [];
    private readonly SemaphoreSlim _wake = new(0);
    private Task? _loop;
    private long _brokerEpoch = -1;

    public BrokerLifecycle(int brokerId, string clusterId, IReadOnlyList<BrokerRegistrationRequest.Listener> listeners, string? rack,
        ControllerChannel controller, Func<long> appliedMetadataOffset, TimeSpan heartbeatInterval, ILogger logger, Func<string, Guid>? topicIdOf = null)
    {
        _topicIdOf = topicIdOf ?? (_ => Guid.Empty);
        _brokerId = brokerId;
        _clusterId = clusterId;
        _listeners = listeners;
        _rack = rack;
        _controller = controller;
        _appliedMetadataOffset = appliedMetadataOffset;
        _heartbeatInterval = heartbeatInterval;
        _logger = logger;
    }

    public long BrokerEpoch => Interlocked.Read(ref _brokerEpoch);
    public bool IsFenced { get; private set; } = true;

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    /// <summary>A partition leader wants a new ISR; the latest request per partition is sent at the next opportunity.</summary>
    public void RequestIsrChange(Partition partition, AlterIsrRequest request)
    {
        lock (_lock)
        {
            _isrChanges[(partition.Topic, partition.PartitionIndex)] = (partition, request);
        }
        _wake.Release();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var nextHeartbeat = DateTime.MinValue;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (BrokerEpoch < 0)
                {
                    await RegisterAsync(cancellationToken).ConfigureAwait(false);
                }
                if (BrokerEpoch >= 0 && DateTime.UtcNow >= nextHeartbeat)
                {
                    await HeartbeatAsync(wantShutDown: false, cancellationToken).ConfigureAwait(false);
                    nextHeartbeat = DateTime.UtcNow + _heartbeatInterval;
                }
                if (BrokerEpoch >= 0)
                {
                    await SendIsrChangesAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogControllerUnreachable(e.Message);
                nextHeartbeat = DateTime.MinValue;
                await Task.Delay(200, cancellationToken).ConfigureAwait(false);
                continue;
            }
            var wait = BrokerEpoch < 0 ? TimeSpan.FromMilliseconds(200) : nextHeartbeat - DateTime.UtcNow;
            if (wait > TimeSpan.Zero)
            {
                await _wake.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task RegisterAsync(CancellationToken cancellationToken)
    {
        var response = await _controller.SendAsync<BrokerRegistrationResponse>(new BrokerRegistrationRequest
        {
            BrokerId = _brokerId,
            ClusterId = _clusterId,
            IncarnationId = _incarnation,
            Listeners = [.. _listeners],
            Features = [],
            Rack = _rack,
        }, cancellationToken).ConfigureAwait(false);
        if (response.ErrorCode == 0)
        {
            Interlocked.Exchange(ref _brokerEpoch, response.BrokerEpoch);
            LogRegistered(_brokerId, response.BrokerEpoch);
        }
        else
        {
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<BrokerHeartbeatResponse> HeartbeatAsync(bool wantShutDown, CancellationToken cancellationToken)
    {
        var response = await _controller.SendAsync<BrokerHeartbeatResponse>(new BrokerHeartbeatRequest
        {
            BrokerId = _brokerId,
            BrokerEpoch = BrokerEpoch,
            CurrentMetadataOffset = _appliedMetadataOffset(),
            WantFence = false,
            WantShutDown = wantShutDown,
        }, cancellationToken).ConfigureAwait(false);
        if (response.ErrorCode == (short)ErrorCode.STALE_BROKER_EPOCH || response.ErrorCode == (short)ErrorCode.BROKER_ID_NOT_REGISTERED)
        {
            Interlocked.Exchange(ref _brokerEpoch, -1); // the controller lost or replaced our registration: register again
        }
        else if (response.ErrorCode == 0)
        {
            IsFenced = response.IsFenced;
        }
        return response;
    }

    private async Task SendIsrChangesAsync(CancellationToken cancellationToken)
    {
        List<(Partition Partition, AlterIsrRequest Request)> changes;
        lock (_lock)
        {
            if (_isrChanges.Count == 0)
            {
                return;
            }
            changes = [.. _isrChanges.Values];
            _isrChanges.Clear();
        }
        var request = new AlterPartitionRequest { BrokerId = _brokerId, BrokerEpoch = BrokerEpoch, Topics = [] };
        foreach (var group in changes.GroupBy(c => c.Partition.Topic))
        {
            // AlterPartition v2+ names topics by id only: without it the controller cannot find the partition.
            request.Topics.Add(new AlterPartitionRequest.TopicData
            {
                TopicName = group.Key,
                TopicId = _topicIdOf(group.Key),
                Partitions = group.Select(c => new AlterPartitionRequest.PartitionData
                {
                    PartitionIndex = c.Partition.PartitionIndex,
                    LeaderEpoch = c.Request.LeaderEpoch,
                    NewIsr = [.. c.Request.NewIsr],
                    PartitionEpoch = c.Request.PartitionEpoch,
                }).ToList(),
            });
        }
        AlterPartitionResponse response;
        try
        {
            response = await _controller.SendAsync<AlterPartitionResponse>(request, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            foreach (var (partition, _) in changes) partition.OnIsrChangeRefused();
            throw;
        }
        // Success arrives through the metadata log (the new ISR and partition epoch); refusals are handled here.
        var refused = response.ErrorCode != 0
            ? changes.Select(c => c.Partition)
            : response.Topics.SelectMany(t => t.Partitions.Where(p => p.ErrorCode != 0).Select(p => changes.FirstOrDefault(c => c.Partition.PartitionIndex == p.PartitionIndex && (c.Partition.Topic == t.TopicName || t.TopicName.Length == 0)).Partition))
                .Where(p => p is not null);
        foreach (var partition in refused)
        {
            partition!.OnIsrChangeRefused();
        }
    }

    /// <summary>
    /// Controlled shutdown: heartbeats with WantShutDown until the controller answers ShouldShutDown (it has moved
    /// leadership away and removed this broker from ISRs), or until <paramref name="timeout"/> passes.
    /// </summary>
    public async Task<bool> ControlledShutdownAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (!deadline.IsCancellationRequested && BrokerEpoch >= 0)
        {
            try
            {
                var response = await HeartbeatAsync(wantShutDown: true, deadline.Token).ConfigureAwait(false);
                if (response.ErrorCode == 0 && response.ShouldShutDown)
                {
                    return true;
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                if (deadline.IsCancellationRequested) break;
            }
            try
            {
                await Task.Delay(100, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return false;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try { await _loop.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
        _stop.Dispose();
        _wake.Dispose();
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "Broker {BrokerId} registered with broker epoch {BrokerEpoch}")]
    private partial void LogRegistered(int brokerId, long brokerEpoch);

    [LoggerMessage(EventId = 401, Level = LogLevel.Debug, Message = "Controller not reachable yet: {Reason}")]
    private partial void LogControllerUnreachable(string reason);
}
