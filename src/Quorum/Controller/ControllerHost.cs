using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Controller;

/// <summary>
/// What a node does with its <see cref="QuorumController"/> around the Raft log, as pure code: it follows the Raft
/// role, replays committed entries, activates the controller when this node's own epoch has committed, lets an
/// operation decide only while active, and rolls back what did not commit. The production driver
/// (ControllerService in Kraft.Broker) and the deterministic simulator (tests/Simulation) both run this class, so
/// the simulator checks the very rules production follows (docs/controller.md, "Simulation").
/// <para>Rules: (1) losing leadership drops every uncommitted change (<see cref="QuorumController.ResetToCommitted"/>);
/// (2) the controller activates only when the LeaderChange entry of the epoch this node leads commits, because only
/// then has every entry of earlier epochs been replayed; (3) a proposal that did not commit (truncated, refused or
/// overtaken by a role change) is rolled back, and the controller stays active only if this node still leads the
/// epoch it was activated in. The driver's side of the contract: each decided result becomes ONE Raft entry, its
/// response is sent only after that entry commits in the epoch it was proposed in, and operations are serialized
/// (the next one is decided after the previous one's entry committed or failed).</para>
/// Thread: single-threaded; the driver serializes every call (ControllerService holds a lock). Clock: only the
/// nowMs arguments.
/// </summary>
public sealed class ControllerHost
{
    private readonly QuorumController _controller;
    private bool _leading;
    private int _leaderEpoch = -1;
    private BrokerContact? _previousLeaderContact; // from OnRoleChange, used by this epoch's activation

    public ControllerHost(ControllerConfig config, MetadataImage committed, Func<Guid>? newTopicId = null)
    {
        _controller = new QuorumController(config, committed, newTopicId);
    }

    /// <summary>The controller this host drives (for reads such as DescribeConfigs on the committed image).</summary>
    public QuorumController Controller => _controller;

    public bool IsActive => _controller.IsActive;

    /// <summary>The Raft epoch this node leads in, or -1.</summary>
    public int LeadingEpoch => _leading ? _leaderEpoch : -1;

    public MetadataImage CommittedImage => _controller.CommittedImage;

    /// <summary>
    /// TEST ONLY: activate as soon as this node wins an election, before its epoch's LeaderChange entry commits
    /// (breaks rule 2: the controller may decide on an image that lacks entries committed in earlier epochs). The
    /// deterministic simulator uses it to show that its checks notice such a controller. Never set in production.
    /// </summary>
    public bool UnsafeActivateOnElection { get; init; }

    /// <summary>
    /// The Raft role changed. Returns true when this node stopped being the active controller.
    /// <paramref name="previousLeaderContact"/>, when this node starts leading: the previous Raft leader's node and when
    /// this node last heard from it; the activation of this epoch starts that broker's session then.
    /// </summary>
    public bool OnRoleChange(bool leading, int epoch, long nowMs = 0, BrokerContact? previousLeaderContact = null)
    {
        _leading = leading;
        _leaderEpoch = epoch;
        _previousLeaderContact = leading ? previousLeaderContact : null;
        if (!leading && _controller.IsActive)
        {
            _controller.ResetToCommitted();
            return true;
        }

        if (leading && UnsafeActivateOnElection && !_controller.IsActive)
        {
            _controller.Activate(epoch, nowMs, _previousLeaderContact);
        }

        return false;
    }

    /// <summary>
    /// A committed Raft entry, in log order. <paramref name="isLeaderChange"/>: the Raft layer's own epoch marker
    /// (no metadata). Returns the decoded batch (what subscribers receive) and whether the controller became active.
    /// </summary>
    public (IReadOnlyList<MetadataRecord> Batch, bool Activated) ApplyCommitted(byte[] payload, bool isLeaderChange, long offset, int epoch, long nowMs)
    {
        ArgumentNullException.ThrowIfNull(payload);
        IReadOnlyList<MetadataRecord> batch = isLeaderChange || payload.Length == 0 ? [] : MetadataRecordCodec.DecodeBatch(payload);
        _controller.ReplayCommitted(batch, offset, epoch);
        if (isLeaderChange && _leading && epoch == _leaderEpoch && !_controller.IsActive)
        {
            _controller.Activate(epoch, nowMs, _previousLeaderContact);
            _previousLeaderContact = null;
            return (batch, true);
        }

        return (batch, false);
    }

    /// <summary>Replaces all state with a snapshot covering offsets up to <paramref name="lastOffset"/>.</summary>
    public void LoadSnapshot(IReadOnlyList<MetadataRecord> records, long lastOffset, int epoch) =>
        _controller.LoadSnapshot(MetadataImage.FromRecords(records, lastOffset, epoch));

    /// <summary>
    /// Lets an operation decide on the latest image. Returns null when this node is not the active controller (the
    /// caller answers NOT_CONTROLLER). A result without records is answered at once; a result with records must be
    /// proposed as one entry, and answered only once that entry commits (else call <see cref="OnProposalFailed"/>).
    /// </summary>
    public ControllerResult<T>? Decide<T>(Func<QuorumController, long, ControllerResult<T>> operation, long nowMs)
    {
        ArgumentNullException.ThrowIfNull(operation);
        return _controller.IsActive ? operation(_controller, nowMs) : null;
    }

    /// <summary>
    /// The entry of the last decided operation did not commit: undo every uncommitted change, and stay active only
    /// if this node still leads the epoch the controller was activated in.
    /// </summary>
    public void OnProposalFailed(long nowMs)
    {
        int epoch = _controller.LeaderEpoch;
        _controller.ResetToCommitted();
        if (_leading && epoch == _leaderEpoch && epoch >= 0)
        {
            _controller.Activate(epoch, nowMs);
        }
    }
}
