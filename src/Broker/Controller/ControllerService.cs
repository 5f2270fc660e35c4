using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;
using Microsoft.Extensions.Logging;

namespace Kraft.Broker.Controller;

/// <summary>The replicated metadata log as the controller sees it (implemented over the Raft driver).</summary>
public interface IMetadataLog
{
    /// <summary>Appends one entry holding a whole batch of records; completes when it commits, or with an error.</summary>
    Task<MetadataProposal> ProposeAsync(byte[] batch, CancellationToken cancellationToken);
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
public sealed partial class ControllerService
{
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _writes = new(1, 1);
    private readonly ControllerHost _host;
    private readonly MetadataPublisher _publisher;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly int _localNodeId;
    private IMetadataLog? _log;

    public ControllerService(int localNodeId, ControllerConfig config, TimeProvider time, ILogger logger)
    {
        _localNodeId = localNodeId;
        _host = new ControllerHost(config, MetadataImage.Empty);
        _publisher = new MetadataPublisher();
        _time = time;
        _logger = logger;
    }

    /// <summary>This node's committed metadata (what its broker serves).</summary>
    public MetadataPublisher Publisher => _publisher;

    public bool IsActive { get { lock (_lock) { return _host.IsActive; } } }

    /// <summary>The committed image as the controller holds it (DescribeConfigs, reassignments).</summary>
    public MetadataImage CommittedImage { get { lock (_lock) { return _host.CommittedImage; } } }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    public void Attach(IMetadataLog log) => _log = log;

    /// <summary>Raft role changed (driver thread). Losing leadership rolls back uncommitted changes.</summary>
    public void OnRoleChange(bool leading, int epoch)
    {
        lock (_lock)
        {
            if (_host.OnRoleChange(leading, epoch))
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
            (batch, bool activated) = _host.ApplyCommitted(payload, isLeaderChange, offset, epoch, NowMs);
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
    /// Runs one controller operation. Reads (no records) answer at once; writes answer after their entry commits.
    /// Returns null when this node is not the active controller (the caller answers NOT_CONTROLLER).
    /// </summary>
    public async Task<T?> ExecuteAsync<T>(Func<QuorumController, long, ControllerResult<T>> operation, CancellationToken cancellationToken)
        where T : class
    {
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            IMetadataLog? log = _log;
            ControllerResult<T>? result;
            lock (_lock)
            {
                result = log is null ? null : _host.Decide(operation, NowMs);
            }
            if (log is null || result is null)
            {
                return null;
            }
            if (result.Records.Count == 0)
            {
                return result.Response;
            }
            var proposal = await log.ProposeAsync(MetadataRecordCodec.EncodeBatch(result.Records), cancellationToken).ConfigureAwait(false);
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

    /// <summary>Periodic controller work (fencing, leaderless partitions, automatic rebalance).</summary>
    public Task<TickReport?> TickAsync(CancellationToken cancellationToken) =>
        ExecuteAsync((c, now) => c.Tick(now), cancellationToken);

    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Node {NodeId} is the active controller in epoch {Epoch} (from offset {Offset})")]
    private partial void LogActivated(int nodeId, int epoch, long offset);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information, Message = "Node {NodeId} stopped being the active controller (epoch {Epoch})")]
    private partial void LogDeactivated(int nodeId, int epoch);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "A controller proposal did not commit: {Error}")]
    private partial void LogProposalFailed(string error);
}
