using System.Diagnostics.Metrics;
using Kraft.Quorum.Raft;

namespace Kraft.Quorum.RaftDriver;

/// <summary>How an election this node stood in ended (the <c>result</c> label of kraft.raft.elections).</summary>
public enum ElectionResult
{
    /// <summary>This node became the leader of the epoch it stood in.</summary>
    Won,

    /// <summary>The candidacy ended without leadership: another node won, a higher epoch appeared, or the vote timed out.</summary>
    Lost,
}

/// <summary>
/// Turns the role changes a driver sees into election outcomes, without touching the core. Kafka counts no
/// such thing directly (raft-metrics has election-latency); Kraft counts every election this node stood in.
/// <para>Rules: every transition into <see cref="RaftRole.Leader"/> is a won election (a leader is only ever made
/// by winning one, even when the core went prospective, candidate and leader inside one step, so that the
/// driver never saw the candidacy). A candidacy seen in epoch E that is followed by anything other than
/// leadership of E is a lost election; a new candidacy in a higher epoch also ends the previous one as lost.
/// Pre-vote rounds (<see cref="RaftRole.Prospective"/>) do not count: they do not bump the epoch.</para>
/// Thread: owned by the driver thread. Pure: no clock, no I/O.
/// </summary>
public sealed class ElectionTracker
{
    private int? _candidateEpoch;
    private RaftRole? _lastRole;

    /// <summary>Feeds the next role change; returns the election it settles, if any.</summary>
    public ElectionResult? Observe(RoleInfo role)
    {
        ArgumentNullException.ThrowIfNull(role);
        ElectionResult? result = null;
        if (role.Role == RaftRole.Leader)
        {
            // Re-announcing the same leadership (a leader-id change never happens within an epoch) is not a new election.
            if (_lastRole != RaftRole.Leader)
            {
                result = ElectionResult.Won;
            }
            _candidateEpoch = null;
        }
        else if (role.Role == RaftRole.Candidate)
        {
            if (_candidateEpoch is int previous && previous != role.Epoch)
            {
                result = ElectionResult.Lost;
            }
            _candidateEpoch = role.Epoch;
        }
        else if (_candidateEpoch is not null)
        {
            result = ElectionResult.Lost;
            _candidateEpoch = null;
        }
        _lastRole = role.Role;
        return result;
    }
}

/// <summary>
/// Measures, on the leader, the time from appending entries to its log until the high watermark covers them
/// (Kafka: raft-metrics commit-latency-avg/max). One measurement per append (one Ready's entries), taken when
/// the high watermark first passes the append's last offset.
/// <para>Invariants: tracked appends are in increasing offset order; at most <see cref="Capacity"/> are tracked
/// (further appends go unmeasured rather than growing memory while commits stall); leadership loss forgets all
/// of them (their entries may never commit in this epoch, and an entry another leader commits is not ours to time).</para>
/// Thread: owned by the driver thread. Pure: the caller passes times in milliseconds of any monotonic clock.
/// </summary>
public sealed class CommitLatencyTracker
{
    /// <summary>The most uncommitted appends measured at once.</summary>
    public const int Capacity = 10_000;

    private readonly Queue<(long EndOffset, double AppendedAtMs)> _appends = new();

    /// <summary>Appends currently waiting for the high watermark.</summary>
    public int Tracked => _appends.Count;

    /// <summary>The leader appended entries ending (exclusive) at <paramref name="endOffset"/> at <paramref name="nowMs"/>.</summary>
    public void OnLeaderAppend(long endOffset, double nowMs)
    {
        if (_appends.Count >= Capacity || (_appends.Count > 0 && _appends.Last().EndOffset >= endOffset))
        {
            return;
        }
        _appends.Enqueue((endOffset, nowMs));
    }

    /// <summary>The high watermark is now <paramref name="highWatermark"/>: returns the latencies of the appends it covers.</summary>
    public List<double> OnHighWatermark(long highWatermark, double nowMs)
    {
        var latencies = new List<double>();
        while (_appends.Count > 0 && _appends.Peek().EndOffset <= highWatermark)
        {
            var (_, appendedAt) = _appends.Dequeue();
            latencies.Add(Math.Max(0, nowMs - appendedAt));
        }
        return latencies;
    }

    /// <summary>Leadership ended: nothing tracked will be measured.</summary>
    public void Reset() => _appends.Clear();
}

/// <summary>What the Raft gauges show, published by the driver thread for scrapes on any thread. Immutable.</summary>
/// <param name="Role">this node's role.</param>
/// <param name="LogEndOffsets">log end offset per voter as this node knows it: every voter on the leader (-1 for a
/// voter that has not fetched in this epoch), only itself elsewhere.</param>
/// <param name="FollowerFetchLags">on the leader, per follower voter whose fetch offset is known: the leader's log end
/// offset minus that fetch offset; empty elsewhere.</param>
public sealed record RaftGaugeSnapshot(RaftRole Role, IReadOnlyList<(NodeId Replica, long LogEndOffset)> LogEndOffsets, IReadOnlyList<(NodeId Replica, long Lag)> FollowerFetchLags)
{
    /// <summary>Builds the snapshot from a leader's DescribeQuorum (null when not leading) or, elsewhere, from the own log end.</summary>
    public static RaftGaugeSnapshot From(RaftRole role, NodeId self, long ownLogEndOffset, QuorumDescription? leaderView)
    {
        if (leaderView is null)
        {
            return new RaftGaugeSnapshot(role, [(self, ownLogEndOffset)], []);
        }
        long leaderEnd = leaderView.CurrentVoters.FirstOrDefault(v => v.ReplicaId == self)?.LogEndOffset ?? ownLogEndOffset;
        var ends = leaderView.CurrentVoters.Select(v => (v.ReplicaId, v.LogEndOffset)).ToList();
        var lags = leaderView.CurrentVoters
            .Where(v => v.ReplicaId != self && v.LogEndOffset >= 0)
            .Select(v => (v.ReplicaId, Math.Max(0, leaderEnd - v.LogEndOffset)))
            .ToList();
        return new RaftGaugeSnapshot(role, ends, lags);
    }
}

/// <summary>
/// The Raft driver's instruments, in a meter "Kraft.Quorum" of its own tagged kraft.node.id (label kraft_node_id),
/// so that several nodes in one process keep their series apart and each node's exporter can pick its own.
/// The core stays pure: the driver observes its Readies and records here. Disposed with the driver. The election
/// counter is observable (totals since start), the commit-latency histogram records only while an exporter listens.
/// Thread-safety: counters and histograms are thread-safe; gauges read <see cref="RaftGaugeSnapshot"/> through
/// the delegate given at construction, which must be thread-safe (the driver's volatile field is).
/// </summary>
public sealed class RaftMetrics : IDisposable
{
    /// <summary>The meter tag that identifies the node; the exporter turns it into the kraft_node_id label.</summary>
    public const string NodeIdTag = "kraft.node.id";

    private static readonly RaftRole[] AllRoles = Enum.GetValues<RaftRole>();
    private readonly Meter _meter;
    private long _electionsWon;
    private long _electionsLost;
    private readonly Histogram<double> _commitLatency;

    public RaftMetrics(NodeId nodeId, Func<RaftGaugeSnapshot> snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        _meter = new Meter("Kraft.Quorum", null, [new KeyValuePair<string, object?>(NodeIdTag, nodeId.Value)]);
        // Observable, so that the totals since the node started are reported (both results, 0 at first) whenever an
        // exporter starts listening: the first election happens while the node starts, before its HTTP endpoint does.
        _meter.CreateObservableCounter("kraft.raft.elections", () => new[]
        {
            new Measurement<long>(Interlocked.Read(ref _electionsWon), new KeyValuePair<string, object?>("result", "won")),
            new Measurement<long>(Interlocked.Read(ref _electionsLost), new KeyValuePair<string, object?>("result", "lost")),
        }, "{election}", "Elections this node stood in, by result (won, lost)");
        _commitLatency = _meter.CreateHistogram<double>("kraft.raft.commit.latency", "ms", "Time from a leader's append to the high watermark covering it");
        _meter.CreateObservableGauge("kraft.raft.state", () => AllRoles.Select(r =>
            new Measurement<int>(snapshot().Role == r ? 1 : 0, new KeyValuePair<string, object?>("state", RoleLabel(r)))),
            description: "1 for this node's current Raft state, 0 for the others");
        _meter.CreateObservableGauge("kraft.raft.log_end_offset", () => snapshot().LogEndOffsets.Select(v =>
            new Measurement<long>(v.LogEndOffset, new KeyValuePair<string, object?>("replica", v.Replica.Value))),
            unit: "{offset}", description: "Log end offset of each voter as this node knows it (all voters on the leader, itself elsewhere; -1 unknown)");
        _meter.CreateObservableGauge("kraft.raft.follower.fetch.lag", () => snapshot().FollowerFetchLags.Select(v =>
            new Measurement<long>(v.Lag, new KeyValuePair<string, object?>("replica", v.Replica.Value))),
            unit: "{records}", description: "On the leader: its log end offset minus each follower voter's fetch offset");
    }

    /// <summary>The label value of a role (Kafka's current-state names, lower case).</summary>
    public static string RoleLabel(RaftRole role) => role.ToString().ToLowerInvariant();

    public void RecordElection(ElectionResult result)
    {
        if (result == ElectionResult.Won)
        {
            Interlocked.Increment(ref _electionsWon);
        }
        else
        {
            Interlocked.Increment(ref _electionsLost);
        }
    }

    public void RecordCommitLatency(double milliseconds) => _commitLatency.Record(milliseconds);

    public void Dispose() => _meter.Dispose();
}
