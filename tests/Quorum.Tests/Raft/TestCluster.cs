using Kraft.Quorum.Raft;

namespace Kraft.Quorum.Tests.Raft;

/// <summary>
/// A tiny deterministic harness for scenario tests: cores wired together by a message list that the
/// test delivers explicitly (optionally dropping some), with every Ready carried out at once (the
/// disk is implicit: entries count as durable as soon as Advance is called).
/// </summary>
internal sealed class TestCluster
{
    public const int ElectionTimeoutMs = 1000;
    public const int FetchTimeoutMs = 2000;

    public Dictionary<int, RaftNode> Nodes { get; } = [];

    public List<RaftMessage> InFlight { get; } = [];

    public List<Ready> Readies { get; } = [];

    /// <summary>Entries applied per node (committed entries handed out by Ready).</summary>
    public Dictionary<int, List<LogEntry>> Applied { get; } = [];

    public Func<RaftMessage, bool> Drop { get; set; } = _ => false;

    public TestCluster(int voters, int observers = 0, Func<int, RecoveredState>? recovered = null, Func<RaftOptions, RaftOptions>? adjust = null)
    {
        var voterIds = Enumerable.Range(1, voters).Select(i => new NodeId(i)).ToArray();
        for (int i = 1; i <= voters + observers; i++)
        {
            var options = Options(i, voterIds);
            if (adjust is not null) options = adjust(options);
            Nodes[i] = new RaftNode(options, recovered?.Invoke(i) ?? RecoveredState.Empty, new SplitMix64Random((ulong)i * 7919));
            Applied[i] = [];
        }
        foreach (var id in Nodes.Keys) Drain(id);
    }

    public static RaftOptions Options(int id, NodeId[] voters) => new()
    {
        NodeId = new NodeId(id),
        Voters = voters,
        ElectionTimeoutMs = ElectionTimeoutMs,
        FetchTimeoutMs = FetchTimeoutMs,
        ElectionBackoffMaxMs = 1000,
        RequestTimeoutMs = 2000,
        RetryBackoffMs = 20,
        FetchMaxWaitMs = 500,
        SnapshotChunkBytes = 4,
    };

    public RaftNode this[int id] => Nodes[id];

    /// <summary>Carries out every pending Ready of a node.</summary>
    public void Drain(int id)
    {
        var node = Nodes[id];
        while (node.HasReady)
        {
            var ready = node.GetReady();
            Readies.Add(ready);
            InFlight.AddRange(ready.Messages);
            if (ready.SnapshotToLoad is not null) Applied[id].Clear();
            Applied[id].AddRange(ready.CommittedEntries);
            node.Advance(ready);
        }
    }

    public void Tick(int id, long ms)
    {
        // Advance in steps so that timers fire at their time, like a driver ticking every 10 ms.
        for (long t = 0; t < ms; t += 10)
        {
            Nodes[id].Tick(Math.Min(10, ms - t));
            Drain(id);
        }
    }

    public void TickAll(long ms)
    {
        for (long t = 0; t < ms; t += 10)
        {
            foreach (var id in Nodes.Keys)
            {
                Nodes[id].Tick(Math.Min(10, ms - t));
                Drain(id);
            }
            DeliverAll();
        }
    }

    /// <summary>Delivers messages until none is left (bounded), dropping those <see cref="Drop"/> selects.</summary>
    public void DeliverAll(int maxRounds = 10_000)
    {
        for (int round = 0; InFlight.Count > 0; round++)
        {
            if (round > maxRounds) throw new InvalidOperationException("messages do not settle");
            var batch = InFlight.ToList();
            InFlight.Clear();
            foreach (var m in batch)
            {
                if (Drop(m)) continue;
                Nodes[m.To.Value].Step(m);
                Drain(m.To.Value);
            }
        }
    }

    /// <summary>Makes <paramref name="id"/> time out first and win the election.</summary>
    public void Elect(int id)
    {
        for (int i = 0; i < 100 && Nodes[id].Role != RaftRole.Leader; i++)
        {
            Tick(id, 100);
            DeliverAll();
        }
        if (Nodes[id].Role != RaftRole.Leader) throw new InvalidOperationException($"node {id} did not win: {Nodes[id].Role}");
        DeliverAll();
    }

    public IReadOnlyList<T> Take<T>() where T : RaftMessage
    {
        var found = InFlight.OfType<T>().ToList();
        InFlight.RemoveAll(m => m is T);
        return found;
    }

    public static RecoveredState Log(int epoch, params (long Offset, int Epoch)[] entries) =>
        new(new PersistentQuorumState(epoch, null, null), null,
            [.. entries.Select(e => new LogEntry(e.Offset, e.Epoch, LogEntryKind.Data, [(byte)e.Offset, (byte)e.Epoch]))]);

    public static (long, int)[] Range(long from, long to, int epoch) =>
        [.. Enumerable.Range((int)from, (int)(to - from)).Select(o => ((long)o, epoch))];
}
