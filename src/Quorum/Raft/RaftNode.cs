namespace Kraft.Quorum.Raft;

/// <summary>
/// The deterministic, I/O-free KRaft core of one node (KIP-595 with KIP-996 pre-vote and KIP-630
/// snapshots). Inputs: <see cref="Step"/> (a message), <see cref="Tick"/> (logical time),
/// <see cref="Propose"/>, <see cref="CreateSnapshot"/> and <see cref="Resign"/>. Outputs: one
/// <see cref="Ready"/> bundle at a time, which the driver carries out and then hands back through
/// <see cref="Advance"/>. Because every message leaves only through a Ready, and a Ready's messages
/// are sent only after its durable state is written, vote grants and fetch offsets (which acknowledge
/// entries) never get ahead of the disk.
/// Invariants (checked in Release too): at most one vote per epoch; epoch, high watermark and applied
/// offset never decrease; the log is never truncated below the high watermark; the high watermark
/// only covers entries a majority of voters hold durably, and only once an entry of the leader's own
/// epoch is among them.
/// Threading: not thread-safe; one thread (the driver's event loop) owns the instance.
/// Time: the core's clock starts at 0 and advances only by <see cref="Tick"/>(elapsedMs).
/// </summary>
public sealed partial class RaftNode
{
    private readonly RaftOptions _options;
    private readonly IRaftRandom _random;
    private readonly RaftLog _log;
    private readonly NodeId _self;
    private readonly NodeId[] _voters;
    private readonly bool _isVoter;

    private long _nowMs;

    // The durable election state as the core sees it; written to disk through Ready.QuorumState.
    private int _epoch;
    private NodeId? _votedFor;
    private NodeId? _leaderId;
    private bool _quorumStateDirty;

    private RoleState _state;
    private long _highWatermark;
    private long _appliedEnd;
    private RaftSnapshot? _latestSnapshot;
    // The snapshot before the latest one keeps being served, so that a follower part-way through a
    // chunked download is not starved when the leader snapshots again before it finishes.
    private RaftSnapshot? _previousSnapshot;
    private long _nextCorrelationId = 1;
    // The leader that announced its resignation (EndQuorumEpoch) for that epoch.
    private (int Epoch, NodeId Leader)? _resignedLeader;

    // Outputs accumulated until the next Ready.
    private readonly List<RaftMessage> _outbox = [];
    private long _durableEnd;
    private long? _pendingTruncateTo;
    private long? _pendingResetTo;
    private long? _pendingDeleteBefore;
    private RaftSnapshot? _pendingSnapshotWrite;
    private RaftSnapshot? _pendingSnapshotLoad;
    private bool _roleChanged = true;
    private Ready? _outstandingReady;

    /// <summary>
    /// Starts a core from the state a driver recovered from disk. A node that was leader before it
    /// stopped restarts as Resigned (its in-memory leader state is gone and nobody else may lead its
    /// epoch); a node that knew a leader restarts as its follower; otherwise it starts Unattached.
    /// The high watermark restarts at the snapshot's end offset (the only commit point on disk) and
    /// grows again from the leader's fetch responses.
    /// </summary>
    public RaftNode(RaftOptions options, RecoveredState recovered, IRaftRandom random)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(recovered);
        ArgumentNullException.ThrowIfNull(random);
        options.Validate();
        _options = options;
        _random = random;
        _self = options.NodeId;
        _voters = [.. options.Voters.OrderBy(v => v.Value)];
        _isVoter = _voters.Contains(_self);

        _latestSnapshot = recovered.Snapshot;
        _log = RaftLog.Recover(recovered.Snapshot?.Id, recovered.Entries);
        _durableEnd = _log.EndOffset;
        if (recovered.Snapshot is { } snap && recovered.Entries.Count > 0)
        {
            // Entries below the snapshot, or not continuing it, were dropped; make the disk agree.
            if (_log.Count == 0) _pendingResetTo = snap.Id.Offset;
            else if (recovered.Entries[0].Offset < snap.Id.Offset) _pendingDeleteBefore = snap.Id.Offset;
        }
        _highWatermark = _log.StartOffset;
        _appliedEnd = _log.StartOffset;

        var q = recovered.QuorumState;
        Invariant.Check(q.Epoch >= _log.LastEpoch, $"quorum-state epoch {q.Epoch} is older than the log's last epoch {_log.LastEpoch}");
        _epoch = q.Epoch;
        _votedFor = q.VotedFor;
        _leaderId = q.LeaderId;
        if (q.LeaderId == _self)
        {
            Invariant.Check(_isVoter, "an observer cannot have been leader");
            _state = new ResignedState(_epoch, _nowMs + RandomElectionTimeoutMs(), []);
        }
        else if (q.LeaderId is { } leader)
        {
            _state = new FollowerState(_epoch, leader, _nowMs);
        }
        else
        {
            _state = new UnattachedState(_epoch, _nowMs + RandomElectionTimeoutMs());
        }
        if (_isVoter && _voters.Length == 1 && _state is UnattachedState u) u.ElectionDeadlineMs = _nowMs;
    }

    /// <summary>This node's id.</summary>
    public NodeId NodeId => _self;

    /// <summary>Current role.</summary>
    public RaftRole Role => _state.Role;

    /// <summary>Current epoch.</summary>
    public int Epoch => _epoch;

    /// <summary>The leader of the current epoch, if known (this node itself when leader or resigned).</summary>
    public NodeId? LeaderId => _leaderId;

    /// <summary>Whom this node voted for in the current epoch.</summary>
    public NodeId? VotedFor => _votedFor;

    /// <summary>The high watermark: every entry below it is committed.</summary>
    public long HighWatermark => _highWatermark;

    /// <summary>The end of the committed prefix already handed to the driver for applying.</summary>
    public long AppliedOffset => _appliedEnd;

    /// <summary>True for a voter, false for an observer.</summary>
    public bool IsVoter => _isVoter;

    /// <summary>The core's logical time in milliseconds.</summary>
    public long NowMs => _nowMs;

    /// <summary>The in-memory log (read-only use outside the core).</summary>
    public RaftLog Log => _log;

    /// <summary>The latest snapshot (created or installed), if any.</summary>
    public RaftSnapshot? LatestSnapshot => _latestSnapshot;

    /// <summary>
    /// True when the leader has committed an entry of its own epoch, i.e. its high watermark is
    /// authoritative (the controller should serve reads and writes only then).
    /// </summary>
    public bool IsLeaderReady => _state is LeaderState l && _highWatermark > l.EpochStartOffset;

    /// <summary>The durable election state as the core currently sees it.</summary>
    public PersistentQuorumState QuorumState => new(_epoch, _votedFor, _leaderId);

    /// <summary>Advances the logical clock by <paramref name="elapsedMs"/> and fires due timers.</summary>
    public void Tick(long elapsedMs)
    {
        CheckNoOutstandingReady();
        Invariant.Check(elapsedMs >= 0, "time never goes back");
        _nowMs += elapsedMs;
        switch (_state)
        {
            case UnattachedState u: TickUnattached(u); break;
            case ProspectiveState p: TickProspective(p); break;
            case CandidateState c: TickCandidate(c); break;
            case LeaderState l: TickLeader(l); break;
            case FollowerState f: TickFollower(f); break;
            case ResignedState r: TickResigned(r); break;
            default: throw new RaftInvariantException("unknown role state");
        }
    }

    /// <summary>Feeds one received message to the core. Messages not addressed to this node are a driver bug.</summary>
    public void Step(RaftMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        CheckNoOutstandingReady();
        Invariant.Check(message.To == _self, message, m => $"message for node {m.To} delivered to node {_self}");
        Invariant.Check(message.From != _self, "a node never sends to itself");
        switch (message)
        {
            case VoteRequest m: HandleVoteRequest(m); break;
            case VoteResponse m: HandleVoteResponse(m); break;
            case BeginQuorumEpochRequest m: HandleBeginQuorumEpoch(m); break;
            case BeginQuorumEpochResponse m: HandleBeginQuorumEpochResponse(m); break;
            case EndQuorumEpochRequest m: HandleEndQuorumEpoch(m); break;
            case EndQuorumEpochResponse m: HandleEndQuorumEpochResponse(m); break;
            case FetchRequest m: HandleFetchRequest(m); break;
            case FetchResponse m: HandleFetchResponse(m); break;
            case FetchSnapshotRequest m: HandleFetchSnapshotRequest(m); break;
            case FetchSnapshotResponse m: HandleFetchSnapshotResponse(m); break;
            default: throw new ArgumentException($"unknown message type {message.GetType().Name}", nameof(message));
        }
    }

    /// <summary>
    /// Appends proposed records (one entry each) if this node is the leader. The returned offsets
    /// are where they will be, if they commit. The high watermark may fall between two entries of
    /// one call: records that must commit together belong in one entry (one encoded batch).
    /// </summary>
    public ProposeResult Propose(IReadOnlyList<byte[]> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        CheckNoOutstandingReady();
        Invariant.Check(records.Count > 0, "propose at least one record");
        if (_state is not LeaderState leader) return new ProposeResult(ProposeStatus.NotLeader, -1, -1, _epoch);
        if (_log.EndOffset - _highWatermark + records.Count > _options.MaxUncommittedEntries)
            return new ProposeResult(ProposeStatus.Backpressure, -1, -1, _epoch);
        long baseOffset = _log.EndOffset;
        foreach (var r in records)
        {
            _log.Append(new LogEntry(_log.EndOffset, _epoch, LogEntryKind.Data, r));
        }
        CompleteParkedFetches(leader, onlyExpired: false);
        return new ProposeResult(ProposeStatus.Accepted, baseOffset, _log.EndOffset - 1, _epoch);
    }

    /// <summary>True when <see cref="GetReady"/> has something for the driver.</summary>
    public bool HasReady =>
        _outstandingReady is null
        && (_quorumStateDirty || _outbox.Count > 0 || _durableEnd < _log.EndOffset || _pendingTruncateTo is not null
            || _pendingResetTo is not null || _pendingDeleteBefore is not null || _pendingSnapshotWrite is not null
            || _pendingSnapshotLoad is not null || _roleChanged || CommittedEnd > _appliedEnd);

    /// <summary>
    /// Collects the pending work into one bundle. The driver must carry it out and call
    /// <see cref="Advance"/> before calling anything else on the core.
    /// </summary>
    public Ready GetReady()
    {
        CheckNoOutstandingReady();
        long committedEnd = CommittedEnd;
        Invariant.Check(_appliedEnd >= _log.StartOffset, "entries not yet applied are still in the log");
        var committed = committedEnd > _appliedEnd ? _log.Read(_appliedEnd, (int)(committedEnd - _appliedEnd)) : [];
        Invariant.Check(committed.Count == Math.Max(0, committedEnd - _appliedEnd), "committed entries must be contiguous");
        var ready = new Ready
        {
            QuorumState = _quorumStateDirty ? QuorumState : null,
            SnapshotToWrite = _pendingSnapshotWrite,
            ResetLogTo = _pendingResetTo,
            TruncateLogTo = _pendingTruncateTo,
            DeleteLogBefore = _pendingDeleteBefore,
            EntriesToAppend = _durableEnd < _log.EndOffset ? _log.Read(_durableEnd, (int)(_log.EndOffset - _durableEnd)) : [],
            Messages = [.. _outbox],
            SnapshotToLoad = _pendingSnapshotLoad,
            CommittedEntries = committed,
            HighWatermark = _highWatermark,
            RoleChange = _roleChanged ? new RoleInfo(_state.Role, _epoch, _leaderId) : null,
            LogEndOffset = _log.EndOffset,
        };
        _outstandingReady = ready;
        return ready;
    }

    /// <summary>
    /// Tells the core that <paramref name="ready"/> was carried out: its state is durable, its
    /// messages sent and its committed entries applied.
    /// </summary>
    public void Advance(Ready ready)
    {
        Invariant.Check(ReferenceEquals(ready, _outstandingReady), "Advance must be given the bundle from the last GetReady");
        _outstandingReady = null;
        _quorumStateDirty = false;
        _outbox.Clear();
        _pendingTruncateTo = null;
        _pendingResetTo = null;
        _pendingDeleteBefore = null;
        _pendingSnapshotWrite = null;
        _pendingSnapshotLoad = null;
        _roleChanged = false;
        Invariant.Check(ready.LogEndOffset == _log.EndOffset, "the log changed while a Ready was outstanding");
        _durableEnd = ready.LogEndOffset;
        if (ready.CommittedEntries.Count > 0)
        {
            long newApplied = ready.CommittedEntries[^1].Offset + 1;
            Invariant.Check(newApplied > _appliedEnd, "applied offset never goes back");
            _appliedEnd = newApplied;
        }
        // The leader's own durable offset counts toward the high watermark only now.
        if (_state is LeaderState leader) MaybeAdvanceLeaderHighWatermark(leader);
    }

    /// <summary>
    /// The state machine took a snapshot of everything below <paramref name="endOffset"/> (which must
    /// be applied, hence committed and durable). The core stores it for followers and drops the log
    /// prefix it covers. With <paramref name="alreadyDurable"/> the driver has written the snapshot file
    /// itself (off its own thread, see RaftDriver.MaybeSnapshot) before calling this, so the Ready carries
    /// no SnapshotToWrite, only the prefix deletion that the durable file now allows.
    /// </summary>
    public OffsetAndEpoch CreateSnapshot(long endOffset, byte[] bytes, bool alreadyDurable = false)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        CheckNoOutstandingReady();
        Invariant.Check(endOffset <= _appliedEnd && endOffset <= _highWatermark, "a snapshot may only cover applied, committed entries");
        Invariant.Check(endOffset <= _durableEnd, "a snapshot may only cover durable entries");
        Invariant.Check(endOffset > _log.StartOffset, "a snapshot must cover more than the previous one");
        int epoch = _log.EpochAt(endOffset - 1) ?? throw new RaftInvariantException("snapshot offset outside the log");
        var snapshot = new RaftSnapshot(new OffsetAndEpoch(endOffset, epoch), bytes);
        _previousSnapshot = _latestSnapshot;
        _latestSnapshot = snapshot;
        _log.DeletePrefix(snapshot.Id);
        if (!alreadyDurable) _pendingSnapshotWrite = snapshot;
        _pendingDeleteBefore = endOffset;
        return snapshot.Id;
    }

    /// <summary>
    /// Graceful resignation (on shutdown): a leader stops accepting proposals and sends
    /// EndQuorumEpoch so the others elect a successor without waiting for the fetch timeout.
    /// Returns false if this node is not the leader.
    /// </summary>
    public bool Resign()
    {
        CheckNoOutstandingReady();
        if (_state is not LeaderState leader) return false;
        TransitionToResigned(leader);
        return true;
    }

    /// <summary>
    /// Leader only: answers every parked fetch now instead of at its expiry, so that followers fetch
    /// again at once. A read barrier uses it to get fresh proof of leadership in one round trip.
    /// Returns false if this node is not the leader.
    /// </summary>
    public bool ReleaseParkedFetches()
    {
        CheckNoOutstandingReady();
        if (_state is not LeaderState leader) return false;
        CompleteParkedFetches(leader, onlyExpired: false);
        return true;
    }

    /// <summary>DescribeQuorum's answer; null unless this node is the leader.</summary>
    public QuorumDescription? DescribeQuorum()
    {
        if (_state is not LeaderState leader) return null;
        var self = new ReplicaDescription(_self, _log.EndOffset, _nowMs, _nowMs);
        var voters = new List<ReplicaDescription>();
        var observers = new List<ReplicaDescription>();
        foreach (var v in _voters)
        {
            if (v == _self) { voters.Add(self); continue; }
            var p = leader.Replicas[v];
            voters.Add(new ReplicaDescription(v, p.EndOffset, p.LastFetchMs, p.LastCaughtUpMs));
        }
        foreach (var p in leader.Replicas.Values.Where(p => !p.IsVoter).OrderBy(p => p.Id.Value))
        {
            observers.Add(new ReplicaDescription(p.Id, p.EndOffset, p.LastFetchMs, p.LastCaughtUpMs));
        }
        return new QuorumDescription(_self, _epoch, _highWatermark, voters, observers);
    }

    // ----- helpers shared by the role files -----

    /// <summary>Committed entries may be applied up to the high watermark, but only those this node holds.</summary>
    private long CommittedEnd => Math.Min(_highWatermark, _log.EndOffset);

    /// <summary>The leader named in responses: a resigned leader no longer names itself.</summary>
    private NodeId? AdvertisedLeaderId => _state is ResignedState ? null : _leaderId;

    private int Majority => QuorumMath.Majority(_voters.Length);

    private bool IsVoterId(NodeId id) => Array.IndexOf(_voters, id) >= 0;

    private long NextCorrelationId() => _nextCorrelationId++;

    private int RandomElectionTimeoutMs() => _options.ElectionTimeoutMs + _random.Next(_options.ElectionTimeoutMs);

    private int RandomBackoffMs() => 1 + _random.Next(_options.ElectionBackoffMaxMs);

    private void Send(RaftMessage message)
    {
        Invariant.Check(message.From == _self && message.To != _self, "messages go from this node to another");
        _outbox.Add(message);
    }

    private void CheckNoOutstandingReady() =>
        Invariant.Check(_outstandingReady is null, "the driver must call Advance before giving the core more input");

    /// <summary>Raises the high watermark; it never goes back on a node.</summary>
    private void RaiseHighWatermark(long candidate)
    {
        if (candidate > _highWatermark) _highWatermark = candidate;
    }

    /// <summary>Removes uncommitted entries at and above <paramref name="endOffset"/>.</summary>
    private void TruncateLog(long endOffset)
    {
        if (endOffset >= _log.EndOffset) return;
        Invariant.Check(endOffset >= _highWatermark, endOffset, o => $"node {_self}: truncation to {o} below the high watermark {_highWatermark} would lose committed entries");
        _log.TruncateTo(endOffset);
        if (endOffset < _durableEnd)
        {
            _durableEnd = endOffset;
            _pendingTruncateTo = _pendingTruncateTo is { } t ? Math.Min(t, endOffset) : endOffset;
        }
    }

    /// <summary>
    /// The single place where role and durable election state change. Checks the transition table
    /// and the vote rule (never two different votes in one epoch).
    /// </summary>
    private void ChangeRole(RoleState next, NodeId? votedFor, NodeId? leaderId)
    {
        RoleTransitions.Check(_state.Role, _epoch, next.Role, next.Epoch, _isVoter);
        if (_state is LeaderState) Invariant.Check(next is ResignedState || next.Epoch > _epoch, "a leader only leaves its role by resigning or for a higher epoch");
        SetQuorumState(next.Epoch, votedFor, leaderId);
        _state = next;
        _roleChanged = true;
    }

    private void SetQuorumState(int epoch, NodeId? votedFor, NodeId? leaderId)
    {
        Invariant.Check(epoch >= _epoch, "epoch never goes back");
        if (epoch == _epoch)
        {
            Invariant.Check(_votedFor is null || votedFor == _votedFor, epoch, e => $"node {_self} would vote twice in epoch {e} ({_votedFor} then {votedFor})");
            Invariant.Check(_leaderId is null || leaderId is null || leaderId == _leaderId, epoch, e => $"node {_self} saw two leaders in epoch {e} ({_leaderId} and {leaderId})");
        }
        if (epoch != _epoch || votedFor != _votedFor || leaderId != _leaderId)
        {
            _epoch = epoch;
            _votedFor = votedFor;
            _leaderId = leaderId;
            _quorumStateDirty = true;
        }
    }
}
