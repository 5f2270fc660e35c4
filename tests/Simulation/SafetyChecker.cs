using System.Globalization;

namespace Kraft.Simulation;

/// <summary>
/// The simulator's safety invariants, fed with observations after every event. Kept apart from the
/// simulator so that unit tests can feed it violating traces and prove each check can fail.
/// Checks: at most one leader per epoch; a node's epoch never goes below its durable epoch and never
/// goes back within a run; high watermark and applied offset never go back within a run of a node;
/// a committed entry (below some node's high watermark) is the same on every node forever; applied
/// states agree at equal offsets; a durable vote never changes within an epoch and a voter never
/// grants two candidates the same epoch (even across restarts); a new leader holds every committed entry.
/// Owned by the simulator's single thread.
/// </summary>
public sealed class SafetyChecker
{
    private readonly Dictionary<int, int> _leaderOfEpoch = [];
    private readonly Dictionary<(int Node, int Incarnation), long> _epochs = [];
    private readonly Dictionary<(int Node, int Incarnation), long> _highWatermarks = [];
    private readonly Dictionary<(int Node, int Incarnation), long> _applied = [];
    private readonly Dictionary<int, (int Epoch, int? VotedFor)> _durableVotes = [];
    private readonly Dictionary<(int Voter, int Epoch), int> _grants = [];
    private readonly Dictionary<long, (int Epoch, ulong Hash, int CommitEpoch)> _committed = [];
    private readonly Dictionary<long, ulong> _appliedStates = [];
    private readonly List<string> _violations = [];

    /// <summary>Every violation found so far, in order.</summary>
    public IReadOnlyList<string> Violations => _violations;

    /// <summary>The end of the committed prefix seen so far (max over nodes of the high watermark).</summary>
    public long CommittedEnd { get; private set; }

    /// <summary>Records a violation found outside the checker (e.g. a core assertion or a liveness failure).</summary>
    public void Report(string violation) => _violations.Add(violation);

    /// <summary>Node <paramref name="node"/> is leader of <paramref name="epoch"/>.</summary>
    public void ObserveLeader(int node, int epoch)
    {
        if (_leaderOfEpoch.TryGetValue(epoch, out int other) && other != node)
            Fail($"two leaders in epoch {epoch}: nodes {other} and {node}");
        else _leaderOfEpoch[epoch] = node;
    }

    /// <summary>The epoch a running node (in its <paramref name="incarnation"/>-th run) is in.</summary>
    public void ObserveEpoch(int node, int incarnation, int epoch)
    {
        if (_epochs.TryGetValue((node, incarnation), out long last) && epoch < last)
            Fail($"node {node} epoch went back from {last} to {epoch}");
        _epochs[(node, incarnation)] = epoch;
        if (_durableVotes.TryGetValue(node, out var durable) && epoch < durable.Epoch)
            Fail($"node {node} runs in epoch {epoch} below its durable epoch {durable.Epoch}");
    }

    /// <summary>The high watermark of a running node. It restarts at the snapshot's end after a restart, then must not go back.</summary>
    public void ObserveHighWatermark(int node, int incarnation, long highWatermark)
    {
        if (_highWatermarks.TryGetValue((node, incarnation), out long last) && highWatermark < last)
            Fail($"node {node} high watermark went back from {last} to {highWatermark}");
        _highWatermarks[(node, incarnation)] = highWatermark;
        CommittedEnd = Math.Max(CommittedEnd, highWatermark);
    }

    /// <summary>A node applied everything below <paramref name="appliedEnd"/>; its state machine's digest is <paramref name="stateHash"/>.</summary>
    public void ObserveApplied(int node, int incarnation, long appliedEnd, ulong stateHash)
    {
        if (_applied.TryGetValue((node, incarnation), out long last) && appliedEnd < last)
            Fail($"node {node} applied offset went back from {last} to {appliedEnd}");
        _applied[(node, incarnation)] = appliedEnd;
        if (_appliedStates.TryGetValue(appliedEnd, out ulong expected))
        {
            if (expected != stateHash) Fail($"node {node} state after applying up to {appliedEnd} differs from another node's");
        }
        else _appliedStates[appliedEnd] = stateHash;
    }

    /// <summary>
    /// Node <paramref name="node"/>, currently in epoch <paramref name="nodeEpoch"/>, holds entry
    /// (offset, epoch, payload digest) below its high watermark. The smallest observer epoch is kept as
    /// the epoch in which the entry was committed (the leader sees it first).
    /// </summary>
    public void ObserveCommittedEntry(int node, long offset, int epoch, ulong payloadHash, int nodeEpoch)
    {
        if (_committed.TryGetValue(offset, out var known))
        {
            if (known.Epoch != epoch || known.Hash != payloadHash)
                Fail(string.Create(CultureInfo.InvariantCulture,
                    $"committed entry at offset {offset} changed on node {node}: epoch {known.Epoch} -> {epoch}"));
            else if (nodeEpoch < known.CommitEpoch) _committed[offset] = known with { CommitEpoch = nodeEpoch };
        }
        else _committed[offset] = (epoch, payloadHash, nodeEpoch);
    }

    /// <summary>
    /// A node just became leader of <paramref name="epoch"/>: it must hold every entry at or above its
    /// log start that was committed in an older epoch (Raft's Leader Completeness; a leader of an old
    /// epoch that wins late, e.g. after a pause, need not hold what newer epochs committed).
    /// <paramref name="entryAt"/> answers (epoch, payload digest) or null if absent.
    /// </summary>
    public void ObserveNewLeaderLog(int node, int epoch, long logStartOffset, Func<long, (int Epoch, ulong Hash)?> entryAt)
    {
        for (long offset = logStartOffset; offset < CommittedEnd; offset++)
        {
            if (!_committed.TryGetValue(offset, out var known) || known.CommitEpoch >= epoch) continue;
            var mine = entryAt(offset);
            if (mine is null || mine.Value.Epoch != known.Epoch || mine.Value.Hash != known.Hash)
            {
                Fail($"leader {node} of epoch {epoch} lacks committed entry at offset {offset}");
                return;
            }
        }
    }

    /// <summary>The driver wrote node <paramref name="node"/>'s quorum-state file.</summary>
    public void ObserveDurableQuorumState(int node, int epoch, int? votedFor)
    {
        if (_durableVotes.TryGetValue(node, out var last))
        {
            if (epoch < last.Epoch) Fail($"node {node} durable epoch went back from {last.Epoch} to {epoch}");
            else if (epoch == last.Epoch && last.VotedFor is not null && votedFor != last.VotedFor)
                Fail($"node {node} changed its durable vote in epoch {epoch} from {last.VotedFor} to {votedFor?.ToString(CultureInfo.InvariantCulture) ?? "none"}");
        }
        _durableVotes[node] = (epoch, votedFor);
    }

    /// <summary>A (non-pre-)vote grant left voter <paramref name="voter"/> for <paramref name="candidate"/> in <paramref name="epoch"/>.</summary>
    public void ObserveVoteGranted(int voter, int epoch, int candidate)
    {
        if (_grants.TryGetValue((voter, epoch), out int other) && other != candidate)
            Fail($"node {voter} voted twice in epoch {epoch}: for {other} and for {candidate}");
        else _grants[(voter, epoch)] = candidate;
    }

    private void Fail(string violation) => _violations.Add(violation);
}
