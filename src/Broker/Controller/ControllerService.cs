using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;
using Microsoft.Extensions.Logging;

namespace Kraft.Broker.Controller;

/// <summary>The replicated metadata log as the controller sees it (implemented over the Raft driver).</summary>
public interface IMetadataLog
{
    /// <summary>
    /// Appends one entry holding a whole batch of records, only if this node still leads <paramref name="epoch"/> (the
    /// epoch the batch was decided in) when it is appended; completes when it commits, or with an error.
    /// </summary>
    Task<MetadataProposal> ProposeAsync(byte[] batch, int epoch, CancellationToken cancellationToken);

    /// <summary>
    /// Read-index barrier (docs/quorum.md, "Linearizable reads"): completes with an end offset R once this node,
    /// still the leader of its epoch, has committed and applied an entry appended after the call, so that the applied
    /// state reflects every write committed anywhere before the call; -1 when that could not be confirmed.
    /// </summary>
    Task<long> ReadBarrierAsync(CancellationToken cancellationToken);
}

/// <summary>The outcome of a proposal: committed at (offset, epoch), or an error such as NOT_LEADER.</summary>
public sealed record MetadataProposal(bool Committed, long Offset, int Epoch, string? Error);

/// <summary>
/// The active controller on the Raft leader, and the metadata image on every node. Committed entries arrive in
/// log order (from the Raft driver's thread) through <see cref="ApplyCommitted"/>; they update the image that
/// this node's broker serves from, and the controller's committed state.
/// <para>Writes are serialized: one operation at a time computes its records from the latest image, proposes
/// them as ONE Raft entry, and answers only after that entry commits. Serializing keeps a failed proposal from
/// leaving a later, dependent one in the log; metadata operations are rare enough that this costs nothing.
/// When leadership is lost, or a proposal does not commit, uncommitted changes are rolled back and the caller
/// gets NOT_CONTROLLER.</para>
/// <para>The controller becomes active when the Raft leader's own LeaderChange entry commits: at that point every
/// entry of earlier epochs has been applied, so its image is complete.</para>
/// <para>The rules themselves (rollback, activation, what to do with a failed proposal) live in the pure
/// <see cref="ControllerHost"/>, which the deterministic simulator runs too; this class adds the lock, the clock,
/// the Raft proposal and the publisher.</para>
/// Thread-safety: every member may be called from any thread.
/// </summary>
public sealed partial class ControllerService : IDisposable
{
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _writes = new(1, 1);
    private readonly ControllerHost _host;
    private readonly MetadataPublisher _publisher;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly int _localNodeId;
    private readonly ControllerMetrics _metrics;
    private IMetadataLog? _log;

    public ControllerService(int localNodeId, ControllerConfig config, TimeProvider time, ILogger logger)
    {
        _localNodeId = localNodeId;
        _host = new ControllerHost(config, MetadataImage.Empty);
        _publisher = new MetadataPublisher();
        _time = time;
        _logger = logger;
        _metrics = new ControllerMetrics(localNodeId);
    }

    /// <summary>This node's committed metadata (what its broker serves).</summary>
    public MetadataPublisher Publisher => _publisher;

    public bool IsActive { get { lock (_lock) { return _host.IsActive; } } }

    /// <summary>The committed image as the controller holds it (DescribeConfigs, reassignments).</summary>
    public MetadataImage CommittedImage { get { lock (_lock) { return _host.CommittedImage; } } }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    public void Attach(IMetadataLog log) => _log = log;

    /// <summary>
    /// Raft role changed (driver thread). Losing leadership rolls back uncommitted changes. When this node starts
    /// leading, <paramref name="previousLeaderId"/> and <paramref name="msSincePreviousLeaderHeard"/> say which node led
    /// before and how long ago this node last heard from it (see QuorumController.Activate).
    /// </summary>
    public void OnRoleChange(bool leading, int epoch, int? previousLeaderId = null, long? msSincePreviousLeaderHeard = null)
    {
        lock (_lock)
        {
            long now = NowMs;
            BrokerContact? contact = leading && previousLeaderId is { } previous && msSincePreviousLeaderHeard is { } age
                ? new BrokerContact(new BrokerId(previous), now - age)
                : null;
            if (_host.OnRoleChange(leading, epoch, now, contact))
            {
                LogDeactivated(_localNodeId, epoch);
            }
        }
    }

    /// <summary>A committed Raft entry (driver thread, log order). <paramref name="isLeaderChange"/>: the Raft layer's own epoch marker.</summary>
    public void ApplyCommitted(byte[] payload, bool isLeaderChange, long offset, int epoch)
    {
        IReadOnlyList<MetadataRecord> batch;
        lock (_lock)
        {
            // Unclean elections are counted where they are decided, on the active controller, once they commit:
            // standby controllers replay the same records and must not count them again.
            bool active = _host.Controller.IsActive;
            long uncleanBefore = _host.Controller.UncleanElectionsReplayed;
            (batch, bool activated) = _host.ApplyCommitted(payload, isLeaderChange, offset, epoch, NowMs);
            if (active)
            {
                _metrics.RecordUncleanElections(_host.Controller.UncleanElectionsReplayed - uncleanBefore);
            }
            if (activated)
            {
                LogActivated(_localNodeId, epoch, offset);
            }
        }
        _publisher.ApplyCommitted(batch, offset, epoch);
    }

    /// <summary>Replaces all state with a snapshot (driver thread).</summary>
    public void LoadSnapshot(byte[] bytes, long offset, int epoch)
    {
        var records = MetadataRecordCodec.DecodeBatch(bytes);
        lock (_lock)
        {
            _host.LoadSnapshot(records, offset, epoch);
        }
        _publisher.LoadSnapshot(records, offset, epoch);
    }

    /// <summary>The image written as records, for a Raft snapshot of everything applied so far.</summary>
    public byte[] TakeSnapshot() => MetadataRecordCodec.EncodeBatch(_publisher.Image.ToRecords());

    /// <summary>
    /// Runs one controller operation. Writes answer after their entry commits. An answer without records (a read, or
    /// a refusal computed from the current state) is sent at once when <paramref name="linearizable"/> is false
    /// (broker registration, heartbeats, AlterPartition and the periodic tick, whose callers retry and tolerate a stale
    /// leader), and otherwise only after a read barrier confirmed this node still leads: the answer is then recomputed
    /// from the state applied through the barrier, so it reflects every write acknowledged before the request arrived,
    /// even if this node was deposed without knowing it (docs/quorum.md, "Linearizable reads").
    /// Returns null when this node is not the active controller or could not confirm it (the caller answers
    /// NOT_CONTROLLER, which clients retry against the new controller).
    /// </summary>
    public async Task<T?> ExecuteAsync<T>(Func<QuorumController, long, ControllerResult<T>> operation, CancellationToken cancellationToken, bool linearizable = false)
        where T : class
    {
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            IMetadataLog? log = _log;
            ControllerResult<T>? result;
            int decidedIn;
            lock (_lock)
            {
                result = log is null ? null : _host.Decide(operation, NowMs);
                decidedIn = _host.Controller.LeaderEpoch;
            }
            if (log is null || result is null)
            {
                return null;
            }
            if (result.Records.Count == 0)
            {
                return linearizable ? await ConfirmedReadAsync(operation, cancellationToken).ConfigureAwait(false) : result.Response;
            }
            var proposal = await log.ProposeAsync(MetadataRecordCodec.EncodeBatch(result.Records), decidedIn, cancellationToken).ConfigureAwait(false);
            if (proposal.Committed)
            {
                return result.Response;
            }
            lock (_lock)
            {
                // Our batch did not make it: undo it, and stay active if we still lead this epoch.
                _host.OnProposalFailed(NowMs);
            }
            LogProposalFailed(proposal.Error ?? "unknown");
            return null;
        }
        finally
        {
            _writes.Release();
        }
    }

    /// <summary>
    /// The read half of <see cref="ExecuteAsync{T}"/> with linearizable set; runs holding the write semaphore, so no
    /// write of this controller is in flight. The barrier entry is appended after the request arrived; it can only
    /// commit in this node's epoch if no leader of a newer epoch committed anything before it (a majority would have
    /// had to fetch from us in the older epoch after voting in the newer one), and everything committed before it is
    /// below it in our log (leader completeness), hence applied once the barrier completes. Computing the answer
    /// after the barrier, from that applied state, is Raft's read-index (thesis 6.4) without any clock.
    /// </summary>
    private async Task<T?> ConfirmedReadAsync<T>(Func<QuorumController, long, ControllerResult<T>> operation, CancellationToken cancellationToken)
        where T : class
    {
        long barrier = await _log!.ReadBarrierAsync(cancellationToken).ConfigureAwait(false);
        if (barrier < 0)
        {
            LogReadNotConfirmed();
            return null;
        }
        lock (_lock)
        {
            if (!_host.Controller.IsActive || _host.Controller.CommittedImage.LastAppliedOffset < barrier - 1)
            {
                return null;
            }
            var result = operation(_host.Controller, NowMs);
            if (result.Records.Count == 0)
            {
                return result.Response;
            }
            // The state moved between the two computations, which only a write could do, and we hold the write
            // semaphore: drop the records rather than commit a write the caller did not see confirmed as one.
            _host.OnProposalFailed(NowMs);
            return null;
        }
    }

    /// <summary>Periodic controller work (fencing, leaderless partitions, automatic rebalance).</summary>
    public Task<TickReport?> TickAsync(CancellationToken cancellationToken) =>
        ExecuteAsync((c, now) => c.Tick(now), cancellationToken);

    /// <summary>Releases the metrics (the meter); the service holds no other resource.</summary>
    public void Dispose() => _metrics.Dispose();

    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Node {NodeId} is the active controller in epoch {Epoch} (from offset {Offset})")]
    private partial void LogActivated(int nodeId, int epoch, long offset);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information, Message = "Node {NodeId} stopped being the active controller (epoch {Epoch})")]
    private partial void LogDeactivated(int nodeId, int epoch);

    [LoggerMessage(EventId = 303, Level = LogLevel.Information, Message = "A controller read was refused: the read barrier could not confirm this node still leads")]
    private partial void LogReadNotConfirmed();

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "A controller proposal did not commit: {Error}")]
    private partial void LogProposalFailed(string error);
}
