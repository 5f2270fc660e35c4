using System.Diagnostics;
using System.Net;
using System.Text;
using Kraft.Broker.RaftTransport;
using Kraft.Quorum.Raft;
using Kraft.Quorum.RaftDriver;
using Microsoft.Extensions.Logging.Abstractions;
using Driver = Kraft.Quorum.RaftDriver.RaftDriver;

namespace Kraft.Broker.Tests.RaftTransport;

/// <summary>Keeps the committed Data payloads in order; the snapshot is those payloads, one a line.</summary>
internal sealed class RecordingStateMachine : IRaftStateMachine
{
    private readonly Lock _lock = new();
    private readonly List<string> _values = [];
    private long _lastOffset = -1;

    public int SnapshotLoads;

    public List<string> Values { get { lock (_lock) { return [.. _values]; } } }

    public void OnRoleChange(RoleInfo role)
    {
    }

    public void OnCommitted(IReadOnlyList<LogEntry> entries, long highWatermark)
    {
        lock (_lock)
        {
            foreach (var e in entries)
            {
                if (e.Offset <= _lastOffset) throw new InvalidOperationException($"entry {e.Offset} after {_lastOffset}");
                _lastOffset = e.Offset;
                if (e.Kind == LogEntryKind.Data && !e.Payload.AsSpan().SequenceEqual(TcpCluster.BarrierPayload)) _values.Add(Encoding.UTF8.GetString(e.Payload));
            }
        }
    }

    public void OnSnapshotLoad(RaftSnapshot snapshot)
    {
        lock (_lock)
        {
            Interlocked.Increment(ref SnapshotLoads);
            _values.Clear();
            _lastOffset = snapshot.Id.Offset - 1;
            string text = Encoding.UTF8.GetString(snapshot.Bytes);
            if (text.Length > 0) _values.AddRange(text.Split('\n'));
        }
    }

    public byte[]? TakeSnapshot(long endOffset)
    {
        lock (_lock)
        {
            Assert.Equal(_lastOffset + 1, endOffset);
            return Encoding.UTF8.GetBytes(string.Join('\n', _values));
        }
    }
}

/// <summary>
/// Three RaftDrivers in one process, each with its own directory, RaftTcpTransport and RaftTcpListener
/// on a loopback port chosen by the OS. Nodes can be stopped (driver, transport and listener disposed,
/// as a crash without resignation) and reopened from disk on the same port.
/// </summary>
internal sealed class TcpCluster : IAsyncDisposable
{
    public static readonly NodeId[] Voters = [new(1), new(2), new(3)];

    private readonly string _root = Path.Combine(Path.GetTempPath(), "kraft-raft-tcp", Guid.NewGuid().ToString("N"));
    private readonly Dictionary<NodeId, int> _ports = [];
    private readonly int _snapshotEvery;
    private readonly bool _barrierEntries;

    /// <summary>The no-op payload of read-barrier entries (the state machine ignores it).</summary>
    public static readonly byte[] BarrierPayload = "~barrier"u8.ToArray();

    public TcpCluster(int snapshotEveryEntries, bool barrierEntries = false)
    {
        _snapshotEvery = snapshotEveryEntries;
        _barrierEntries = barrierEntries;
    }

    public Dictionary<NodeId, Node> Nodes { get; } = [];

    /// <summary>Every node's log lines (Information and above), for failure messages.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Log { get; } = new();

    public string Dump()
    {
        string text = string.Join("\n", Log);
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "kraft-raft-tcp-last-failure.log"), text);
        return text;
    }

    public sealed class Node(NodeId id, Driver driver, RaftTcpTransport transport, RaftTcpListener listener, RecordingStateMachine machine)
    {
        public NodeId Id { get; } = id;
        public Driver Driver { get; } = driver;
        public RaftTcpTransport Transport { get; } = transport;
        public RaftTcpListener Listener { get; } = listener;
        public RecordingStateMachine Machine { get; } = machine;

        public async Task StopAsync()
        {
            await Driver.DisposeAsync();
            await Listener.DisposeAsync();
            await Transport.DisposeAsync();
        }
    }

    public static RaftOptions RaftOptionsFor(NodeId id) => new()
    {
        NodeId = id,
        Voters = Voters,
        ElectionTimeoutMs = 150,
        FetchTimeoutMs = 300,
        ElectionBackoffMaxMs = 100,
        RequestTimeoutMs = 200,
        RetryBackoffMs = 10,
        FetchMaxWaitMs = 50,
    };

    public void StartAll()
    {
        foreach (var id in Voters) StartNode(id);
    }

    public Node StartNode(NodeId id)
    {
        var machine = new RecordingStateMachine();
        var transport = new RaftTcpTransport(id, peer => _ports.TryGetValue(peer, out int port) ? ("127.0.0.1", port) : null, new TestLog($"transport {id}", Log));
        var listener = new RaftTcpListener(transport, new TestLog($"listener {id}", Log));
        var endpoint = listener.Start(new IPEndPoint(IPAddress.Loopback, _ports.GetValueOrDefault(id, 0)));
        _ports[id] = endpoint.Port;
        var options = new RaftDriverOptions(Path.Combine(_root, id.ToString()), RaftOptionsFor(id)) { SnapshotEveryEntries = _snapshotEvery, ReadBarrierPayload = _barrierEntries ? BarrierPayload : null };
        var driver = Driver.Open(options, transport, machine, TimeProvider.System, new TestLog($"node {id}", Log));
        transport.OnReceive = driver.Deliver;
        driver.Start();
        var node = new Node(id, driver, transport, listener, machine);
        Nodes[id] = node;
        return node;
    }

    /// <summary>
    /// Starts an observer (a broker-only node): not a voter, and no voter knows its address (it does not listen at
    /// all), so it must receive the leader's answers on the connections it opens to the voters.
    /// </summary>
    public Node StartObserver(NodeId id)
    {
        Assert.DoesNotContain(id, Voters);
        var machine = new RecordingStateMachine();
        var transport = new RaftTcpTransport(id, peer => _ports.TryGetValue(peer, out int port) ? ("127.0.0.1", port) : null, new TestLog($"transport {id}", Log));
        var listener = new RaftTcpListener(transport, new TestLog($"listener {id}", Log)); // never started
        var options = new RaftDriverOptions(Path.Combine(_root, id.ToString()), RaftOptionsFor(id)) { SnapshotEveryEntries = _snapshotEvery };
        var driver = Driver.Open(options, transport, machine, TimeProvider.System, new TestLog($"node {id}", Log));
        transport.OnReceive = driver.Deliver;
        driver.Start();
        var node = new Node(id, driver, transport, listener, machine);
        Nodes[id] = node;
        return node;
    }

    public async Task StopNodeAsync(NodeId id)
    {
        await Nodes[id].StopAsync();
        Nodes.Remove(id);
    }

    /// <summary>Waits until exactly one running node leads and every running node follows it in its epoch.</summary>
    public async Task<Node> WaitForLeaderAsync(TimeSpan timeout)
    {
        var stopwatch = Stopwatch.StartNew();
        while (stopwatch.Elapsed < timeout)
        {
            var leaders = Nodes.Values.Where(n => n.Driver.Role.Role == RaftRole.Leader).ToList();
            // Observers follow a leader too (their epoch and leader id come from its Fetch answers).
            if (leaders.Count == 1)
            {
                var leader = leaders[0];
                int epoch = leader.Driver.Role.Epoch;
                if (Nodes.Values.All(n => n.Driver.Role.Epoch == epoch && n.Driver.Role.LeaderId == leader.Id)) return leader;
            }
            await Task.Delay(5);
        }
        throw new TimeoutException("no single leader: " + string.Join(", ", Nodes.Values.Select(n => $"{n.Id}={n.Driver.Role}")));
    }

    /// <summary>
    /// Proposes <paramref name="value"/> through whichever node leads until it commits. NOT_LEADER is
    /// retried as is (nothing was appended); after LEADERSHIP_LOST the value may or may not have committed,
    /// so a retry can apply it twice: callers compare values with duplicates removed.
    /// </summary>
    public async Task<ProposalOutcome> ProposeUntilCommittedAsync(string value, TimeSpan timeout)
    {
        var stopwatch = Stopwatch.StartNew();
        var outcomes = new List<ProposalOutcome>();
        while (stopwatch.Elapsed < timeout)
        {
            var leader = await WaitForLeaderAsync(timeout - stopwatch.Elapsed);
            using var cancel = new CancellationTokenSource(timeout - stopwatch.Elapsed);
            var outcome = await leader.Driver.ProposeAsync(Encoding.UTF8.GetBytes(value), cancel.Token);
            if (outcome.Committed) return outcome;
            outcomes.Add(outcome);
        }
        throw new TimeoutException($"{value} never committed: {string.Join(", ", outcomes)}\n{Dump()}");
    }

    public static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, Func<string> what)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            if (stopwatch.Elapsed > timeout) throw new TimeoutException(what());
            await Task.Delay(5);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes.Values) await node.StopAsync();
        Nodes.Clear();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort clean-up of a temporary directory.
        }
    }
}

public sealed class RaftTcpClusterTests
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(15);

    private static async Task<ProposalOutcome> ProposeOnceAsync(TcpCluster.Node node, string value)
    {
        using var timeout = new CancellationTokenSource(Converge);
        return await node.Driver.ProposeAsync(Encoding.UTF8.GetBytes(value), timeout.Token);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Three_voters_elect_one_leader_commit_proposals_and_apply_the_same_entries_everywhere(bool barrierEntries)
    {
        await using var cluster = new TcpCluster(snapshotEveryEntries: 10_000, barrierEntries);
        cluster.StartAll();
        var leader = await cluster.WaitForLeaderAsync(Converge);

        var expected = new List<string>();
        for (int i = 0; i < 20; i++)
        {
            var outcome = await cluster.ProposeUntilCommittedAsync($"a{i}", Converge);
            Assert.True(outcome.Committed && outcome.Offset > 0 && outcome.Epoch >= 1, outcome.ToString());
            expected.Add($"a{i}");
        }
        leader = await cluster.WaitForLeaderAsync(Converge);
        foreach (var follower in cluster.Nodes.Values.Where(n => n != leader))
        {
            var refused = await ProposeOnceAsync(follower, "nope");
            Assert.False(refused.Committed);
            Assert.Equal(ProposalErrors.NotLeader, refused.Error);
        }
        // Under heavy machine load leadership can move; a barrier then answers -1 and is retried on the new leader.
        long barrier = -1;
        for (int attempt = 0; attempt < 20 && barrier < 0; attempt++)
        {
            leader = await cluster.WaitForLeaderAsync(Converge);
            barrier = await leader.Driver.ReadBarrierAsync(CancellationToken.None);
        }
        Assert.True(barrier >= (barrierEntries ? 22 : 21), $"read barrier {barrier} covers the 20 entries, the LeaderChange entry (and its own entry)");
        Assert.True(leader.Driver.AppliedOffset >= barrier, "the barrier completes only once the state machine applied through it");
        Assert.Equal(-1, await cluster.Nodes.Values.First(n => n != leader).Driver.ReadBarrierAsync(CancellationToken.None));

        var leaderValues = leader.Machine.Values;
        Assert.Equal(expected, leaderValues.Distinct());
        await TcpCluster.WaitForAsync(() => cluster.Nodes.Values.All(n => n.Machine.Values.Count == leaderValues.Count), Converge,
            () => "followers did not apply everything: " + string.Join(", ", cluster.Nodes.Values.Select(n => $"{n.Id}:{n.Machine.Values.Count}")));
        foreach (var node in cluster.Nodes.Values) Assert.Equal(leaderValues, node.Machine.Values);

        var quorum = await leader.Driver.DescribeQuorumAsync(CancellationToken.None);
        Assert.Equal(leader.Id, quorum!.LeaderId);
        Assert.Equal(3, quorum.CurrentVoters.Count);
    }

    [Fact]
    public async Task Stopping_the_leader_elects_a_new_one_quickly_and_the_old_leader_catches_up_after_reopening()
    {
        await using var cluster = new TcpCluster(snapshotEveryEntries: 10_000);
        cluster.StartAll();
        var leader = await cluster.WaitForLeaderAsync(Converge);
        for (int i = 0; i < 5; i++) await cluster.ProposeUntilCommittedAsync($"before{i}", Converge);
        leader = await cluster.WaitForLeaderAsync(Converge);
        int oldEpoch = leader.Driver.Role.Epoch;

        var stopwatch = Stopwatch.StartNew();
        await cluster.StopNodeAsync(leader.Id);
        var newLeader = await cluster.WaitForLeaderAsync(Converge);
        var failover = stopwatch.Elapsed;
        Assert.NotEqual(leader.Id, newLeader.Id);
        Assert.True(newLeader.Driver.Role.Epoch > oldEpoch);
        // fetch timeout (300) + election timeout with jitter (up to 300) + pre-vote/vote round trips; generous slack for a loaded 2-core machine.
        Assert.True(failover < TimeSpan.FromSeconds(4), $"failover took {failover.TotalMilliseconds} ms\n{cluster.Dump()}");

        for (int i = 0; i < 5; i++) await cluster.ProposeUntilCommittedAsync($"after{i}", Converge);
        newLeader = await cluster.WaitForLeaderAsync(Converge);

        var reopened = cluster.StartNode(leader.Id);
        string[] expected = [.. Enumerable.Range(0, 5).Select(i => $"before{i}"), .. Enumerable.Range(0, 5).Select(i => $"after{i}")];
        Assert.Equal(expected, newLeader.Machine.Values.Distinct());
        await TcpCluster.WaitForAsync(() => reopened.Machine.Values.Count == newLeader.Machine.Values.Count, Converge,
            () => $"reopened node applied {reopened.Machine.Values.Count} of {newLeader.Machine.Values.Count}");
        Assert.Equal(newLeader.Machine.Values, reopened.Machine.Values);
        Assert.Equal(expected, reopened.Machine.Values.Distinct());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_leader_cut_off_from_its_followers_confirms_no_read_barrier_and_loses_its_pending_proposal(bool barrierEntries)
    {
        await using var cluster = new TcpCluster(snapshotEveryEntries: 10_000, barrierEntries);
        cluster.StartAll();
        await cluster.ProposeUntilCommittedAsync("x", Converge);
        var leader = await cluster.WaitForLeaderAsync(Converge);
        await TcpCluster.WaitForAsync(() => leader.Machine.Values.Contains("x"), Converge, () => "the leader never applied x");
        foreach (var follower in cluster.Nodes.Keys.Where(id => id != leader.Id).ToList()) await cluster.StopNodeAsync(follower);

        var barrier = leader.Driver.ReadBarrierAsync(CancellationToken.None);
        var proposal = leader.Driver.ProposeAsync("y"u8.ToArray(), CancellationToken.None);
        // Check-quorum (1.5 x fetch timeout) makes the leader resign; until then neither may succeed.
        Assert.Equal(-1, await barrier.WaitAsync(Converge));
        var outcome = await proposal.WaitAsync(Converge);
        Assert.False(outcome.Committed);
        // LEADERSHIP_LOST when it was appended before the resignation; NOT_LEADER when the (slow) stop took longer than check-quorum.
        Assert.Contains(outcome.Error, new[] { ProposalErrors.LeadershipLost, ProposalErrors.NotLeader });
        Assert.NotEqual(RaftRole.Leader, leader.Driver.Role.Role);
        Assert.Equal(["x"], leader.Machine.Values.Distinct()); // "y" never applied ("x" may twice after a retried proposal)
    }

    [Fact]
    public async Task A_node_far_behind_catches_up_through_a_snapshot()
    {
        await using var cluster = new TcpCluster(snapshotEveryEntries: 5);
        cluster.StartAll();
        var leader = await cluster.WaitForLeaderAsync(Converge);
        var laggard = cluster.Nodes.Values.First(n => n != leader).Id;
        await cluster.StopNodeAsync(laggard);

        var expected = new List<string>();
        for (int i = 0; i < 40; i++)
        {
            await cluster.ProposeUntilCommittedAsync($"s{i}", Converge);
            expected.Add($"s{i}");
        }
        leader = await cluster.WaitForLeaderAsync(Converge);
        // The leader snapshots every 5 applied entries and drops the log prefix, so offset 0 is gone (from the log the
        // leader serves; the disk keeps it until a whole segment can go).
        await TcpCluster.WaitForAsync(() => leader.Driver.LogStartOffset > 0, Converge, () => "the leader never truncated its log prefix");

        var reopened = cluster.StartNode(laggard);
        Assert.Equal(expected, leader.Machine.Values.Distinct());
        await TcpCluster.WaitForAsync(() => reopened.Machine.Values.Count == leader.Machine.Values.Count, Converge,
            () => $"laggard applied {reopened.Machine.Values.Count} of {leader.Machine.Values.Count}");
        Assert.Equal(leader.Machine.Values, reopened.Machine.Values);
        Assert.True(reopened.Machine.SnapshotLoads >= 1, "the laggard installed a snapshot from the leader");
        Assert.True(Directory.GetFiles(Path.Combine(Path.GetDirectoryName(reopened.Driver.Store.Log.Directory)!, "snapshots")).Length == 1);
    }

    [Fact]
    public async Task An_observer_whose_address_no_voter_knows_follows_the_log_on_its_own_connections_and_across_a_leader_change()
    {
        await using var cluster = new TcpCluster(snapshotEveryEntries: 10_000);
        cluster.StartAll();
        var observer = cluster.StartObserver(new NodeId(4));
        var leader = await cluster.WaitForLeaderAsync(Converge);
        for (int i = 0; i < 10; i++) await cluster.ProposeUntilCommittedAsync($"o{i}", Converge);
        leader = await cluster.WaitForLeaderAsync(Converge);

        await TcpCluster.WaitForAsync(() => observer.Machine.Values.Count == leader.Machine.Values.Count, Converge,
            () => $"observer applied {observer.Machine.Values.Count} of {leader.Machine.Values.Count}\n{cluster.Dump()}");
        Assert.Equal(leader.Machine.Values, observer.Machine.Values);
        Assert.Equal(RaftRole.Follower, observer.Driver.Role.Role); // an observer that knows the leader follows it without a vote
        Assert.Contains(new NodeId(4), leader.Transport.ReturnPathNodes);
        var quorum = await leader.Driver.DescribeQuorumAsync(CancellationToken.None);
        Assert.Contains(quorum!.Observers, o => o.ReplicaId == new NodeId(4));
        Assert.DoesNotContain(quorum.CurrentVoters, v => v.ReplicaId == new NodeId(4));
        Assert.Equal(ProposalErrors.NotLeader, (await ProposeOnceAsync(observer, "from-observer")).Error);

        // The observer finds the next leader by itself and keeps following.
        await cluster.StopNodeAsync(leader.Id);
        for (int i = 0; i < 5; i++) await cluster.ProposeUntilCommittedAsync($"p{i}", Converge);
        var newLeader = await cluster.WaitForLeaderAsync(Converge);
        Assert.NotEqual(leader.Id, newLeader.Id);
        await TcpCluster.WaitForAsync(() => observer.Machine.Values.Count == newLeader.Machine.Values.Count, Converge,
            () => $"observer applied {observer.Machine.Values.Count} of {newLeader.Machine.Values.Count} after the leader change\n{cluster.Dump()}");
        Assert.Equal(newLeader.Machine.Values, observer.Machine.Values);
        Assert.Equal(newLeader.Id, observer.Driver.Role.LeaderId);
    }
}
