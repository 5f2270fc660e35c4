using System.Globalization;
using System.Text;
using Kraft.Quorum.Raft;

namespace Kraft.Simulation;

/// <summary>How long and how hard one simulated run is.</summary>
public sealed record SimulationProfile(string Name, int ChaosMs, int LivenessBoundMs)
{
    /// <summary>The CI profile: short runs, many seeds.</summary>
    public static SimulationProfile Fast { get; } = new("fast", ChaosMs: 20_000, LivenessBoundMs: 8_000);

    /// <summary>The slow profile: ten times longer chaos.</summary>
    public static SimulationProfile Long { get; } = new("long", ChaosMs: 60_000, LivenessBoundMs: 8_000);

    /// <summary>The controller simulation's CI profile: half the chaos of <see cref="Fast"/>, since every event also runs the controller.</summary>
    public static SimulationProfile Controller { get; } = new("controller", ChaosMs: 10_000, LivenessBoundMs: 8_000);

    public static SimulationProfile ByName(string name) =>
        name == Long.Name ? Long : name == Fast.Name ? Fast : name == Controller.Name ? Controller : throw new ArgumentException($"unknown profile {name}");
}

/// <summary>The outcome of one seed.</summary>
public sealed record SimulationResult(ulong Seed, IReadOnlyList<string> Violations, string Summary, string RecentEvents)
{
    public bool Passed => Violations.Count == 0;
}

/// <summary>
/// A deterministic cluster simulation from one seed: one thread, a virtual clock, one seeded PRNG
/// (each node's core gets its own PRNG seeded from it). A simulated network loses, delays,
/// duplicates and reorders messages and applies one-way and two-way partitions; simulated disks lose
/// unsynced writes on a crash (with torn tails); a nemesis crashes and restarts nodes (sometimes in
/// the middle of carrying out a Ready), partitions, changes loss rates and makes the leader resign;
/// a client proposes records to the leader; nodes take snapshots. After every event the
/// <see cref="SafetyChecker"/> runs. After the chaos phase the network heals, every node restarts,
/// and a leader plus a new commit reaching every node are required within a bound (liveness).
/// </summary>
public sealed class Simulator
{
    private readonly ulong _seed;
    private readonly SimulationProfile _profile;
    private readonly SplitMix64Random _random;
    private readonly List<SimNode> _nodes = [];
    private readonly Dictionary<int, int> _tickIntervalMs = [];
    private readonly Dictionary<int, long> _pausedUntil = [];
    private readonly Dictionary<int, long> _pendingElapsedMs = [];
    private readonly PriorityQueue<SimEvent, (long, long)> _events = new();
    private readonly HashSet<(int From, int To)> _blocked = [];
    private readonly SafetyChecker _checker = new();
    private readonly Queue<string> _recent = new();
    private long _now;
    private long _sequence;
    private double _lossRate;
    private double _duplicateRate;
    private int _maxDelayMs;
    private bool _healed;
    private long _healTime;
    private long _proposalCounter;
    private readonly List<ProposeResult> _postHealProposals = [];
    private bool _livenessReached;
    private int _snapshotEvery;
    private int _snapshotPadding;
    private int _elections;
    private int _crashes;
    private long _messages;

    private abstract record SimEvent;
    private sealed record Deliver(RaftMessage Message) : SimEvent;
    private sealed record TickNode(int Index) : SimEvent;
    private sealed record Restart(int Index) : SimEvent;
    private sealed record Nemesis : SimEvent;
    private sealed record Client : SimEvent;
    private sealed record Heal : SimEvent;
    private sealed record Custom(Action Run) : SimEvent;
    private ControllerLayer? _controller;

    public const int TickMs = 5;

    /// <summary>
    /// TEST ONLY: the simulated driver sends each Ready's messages before making its state durable,
    /// breaking the driver contract, to show that the disk-fault model catches it.
    /// </summary>
    public bool UnsafeSendBeforeDurable { get; init; }

    /// <summary>
    /// When set, every node also runs the production controller (<see cref="Kraft.Quorum.Controller.ControllerHost"/>)
    /// and simulated clients and brokers send it operations instead of raw proposals (see <see cref="ControllerLayer"/>).
    /// </summary>
    public ControllerSimulationOptions? Controller { get; init; }

    public Simulator(ulong seed, SimulationProfile profile, Func<RaftOptions, RaftOptions>? adjustOptions = null)
    {
        _seed = seed;
        _profile = profile;
        _random = new SplitMix64Random(seed * 0x9E3779B97F4A7C15UL + 17);
        int voterCount = _random.Next(2) == 0 ? 3 : 5;
        int observerCount = 1 + _random.Next(2);
        var voters = Enumerable.Range(1, voterCount).Select(i => new NodeId(i)).ToArray();
        _snapshotEvery = 20 + _random.Next(100);
        _snapshotPadding = _random.Next(2_000);
        _maxDelayMs = 2 + _random.Next(20);
        for (int i = 1; i <= voterCount + observerCount; i++)
        {
            var options = new RaftOptions
            {
                NodeId = new NodeId(i),
                Voters = voters,
                ElectionTimeoutMs = 150,
                FetchTimeoutMs = 300,
                ElectionBackoffMaxMs = 100,
                RequestTimeoutMs = 100,
                RetryBackoffMs = 10,
                FetchMaxWaitMs = 40,
                FetchMaxEntries = 5 + _random.Next(50),
                SnapshotChunkBytes = 256,
                MaxUncommittedEntries = 300,
            };
            if (adjustOptions is not null) options = adjustOptions(options);
            _nodes.Add(new SimNode(new NodeId(i), options));
        }
    }

    public SafetyChecker Checker => _checker;

    /// <summary>Runs the whole scenario and returns the outcome (never throws for a violation).</summary>
    public SimulationResult Run()
    {
        try
        {
            if (Controller is not null)
            {
                _controller = new ControllerLayer(Controller, _nodes, _random, (delay, action) => Schedule(delay, new Custom(action)), () => _now,
                    _checker.Report, Trace, ProcessReady, () => _healed, p => _postHealProposals.Add(p));
            }
            for (int i = 0; i < _nodes.Count; i++)
            {
                StartNode(i);
                // Clocks run at slightly different rates: a node ticks 5 ms every 4 to 6 ms of virtual time.
                _tickIntervalMs[i] = TickMs - 1 + _random.Next(3);
                Schedule(_random.Next(TickMs) + 1, new TickNode(i));
            }
            Schedule(50 + _random.Next(300), new Nemesis());
            if (_controller is null) Schedule(10, new Client());
            else _controller.Start();
            Schedule(_profile.ChaosMs, new Heal());
            long deadline = _profile.ChaosMs + _profile.LivenessBoundMs;
            while (_events.Count > 0 && _checker.Violations.Count == 0 && !_livenessReached)
            {
                _events.TryDequeue(out var ev, out var key);
                _now = key.Item1;
                if (_now > deadline) break;
                Handle(ev!);
                CheckAll();
            }
            if (_checker.Violations.Count == 0 && !_livenessReached)
            {
                _checker.Report($"liveness: no leader with a new commit on every node within {_profile.LivenessBoundMs} ms after healing ({DescribeNodes()})");
            }
            if (_checker.Violations.Count == 0) _controller?.Finish();
        }
        catch (RaftInvariantException e)
        {
            _checker.Report($"core assertion at {_now} ms: {e.Message}");
        }
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"seed {_seed} ({_profile.Name}): {_nodes.Count(n => n.Options.Voters.Contains(n.Id))} voters + {_nodes.Count(n => !n.Options.Voters.Contains(n.Id))} observers, {_now} ms, {_messages} messages, {_elections} leader changes, {_crashes} crashes, committed end {_checker.CommittedEnd}");
        if (_controller is not null) summary += "; " + _controller.Summary();
        return new SimulationResult(_seed, [.. _checker.Violations], summary, string.Join('\n', _recent));
    }

    private void Schedule(long delayMs, SimEvent ev) => _events.Enqueue(ev, (_now + delayMs, _sequence++));

    private void Trace(string text)
    {
        _recent.Enqueue(string.Create(CultureInfo.InvariantCulture, $"{_now,7} {text}"));
        if (_recent.Count > (TraceMessages ? 400 : 40)) _recent.Dequeue();
    }

    private void StartNode(int index)
    {
        var node = _nodes[index];
        node.Start(_random.NextUInt64());
        Trace($"start node {node.Id} (run {node.Incarnation}) epoch {node.Core!.Epoch} role {node.Core.Role}");
        ProcessReady(node);
    }

    private void Handle(SimEvent ev)
    {
        switch (ev)
        {
            case Deliver d:
                {
                    var node = _nodes[d.Message.To.Value - 1];
                    if (!node.IsUp || _blocked.Contains((d.Message.From.Value, d.Message.To.Value))) return;
                    if (IsPaused(d.Message.To.Value - 1, out long resumeAt))
                    {
                        // A paused process reads its socket only after it resumes.
                        _events.Enqueue(d, (resumeAt, _sequence++));
                        return;
                    }
                    node.Core!.Step(d.Message);
                    ProcessReady(node);
                    break;
                }
            case TickNode t:
                {
                    var node = _nodes[t.Index];
                    if (node.IsUp)
                    {
                        // While paused (SIGSTOP) time still passes; the driver sees it all at once on resume.
                        long elapsed = _pendingElapsedMs.GetValueOrDefault(t.Index) + TickMs;
                        if (IsPaused(t.Index, out _))
                        {
                            _pendingElapsedMs[t.Index] = elapsed;
                        }
                        else
                        {
                            _pendingElapsedMs[t.Index] = 0;
                            node.Core!.Tick(elapsed);
                            ProcessReady(node);
                        }
                    }
                    Schedule(_tickIntervalMs[t.Index], t);
                    break;
                }
            case Restart r:
                if (!_nodes[r.Index].IsUp) StartNode(r.Index);
                break;
            case Nemesis:
                if (!_healed)
                {
                    RunNemesis();
                    Schedule(50 + _random.Next(600), ev);
                }
                break;
            case Client:
                RunClient();
                Schedule(5 + _random.Next(40), ev);
                break;
            case Heal:
                HealAll();
                break;
            case Custom c:
                c.Run();
                break;
        }
    }

    private void RunNemesis()
    {
        int count = _nodes.Count;
        switch (_random.Next(11))
        {
            case 0:
                _blocked.Clear();
                Trace("nemesis: heal partitions");
                break;
            case 1:
                {
                    int victim = 1 + _random.Next(count);
                    for (int i = 1; i <= count; i++)
                    {
                        if (i == victim) continue;
                        _blocked.Add((victim, i));
                        _blocked.Add((i, victim));
                    }
                    Trace($"nemesis: isolate node {victim}");
                    break;
                }
            case 2:
                {
                    int a = 1 + _random.Next(count), b = 1 + _random.Next(count);
                    if (a != b) _blocked.Add((a, b));
                    Trace($"nemesis: one-way partition {a} -> {b}");
                    break;
                }
            case 3:
                {
                    _blocked.Clear();
                    var side = Enumerable.Range(1, count).Where(_ => _random.Next(2) == 0).ToHashSet();
                    foreach (int a in Enumerable.Range(1, count))
                    {
                        foreach (int b in Enumerable.Range(1, count))
                        {
                            if (side.Contains(a) != side.Contains(b)) _blocked.Add((a, b));
                        }
                    }
                    Trace($"nemesis: split {{{string.Join(',', side)}}} from the rest");
                    break;
                }
            case 4:
            case 5:
                {
                    var up = _nodes.Where(n => n.IsUp).ToList();
                    if (up.Count == 0) break;
                    var victim = up[_random.Next(up.Count)];
                    if (_random.Next(2) == 0)
                    {
                        victim.CrashDuringNextReady = true;
                        Trace($"nemesis: node {victim.Id} will crash while carrying out its next Ready");
                    }
                    else
                    {
                        CrashNode(victim);
                    }
                    break;
                }
            case 9 when _random.Next(2) == 0:
                {
                    int victim = _random.Next(count);
                    long until = _now + 50 + _random.Next(1_000);
                    _pausedUntil[victim] = until;
                    Trace($"nemesis: pause node {victim + 1} until {until}");
                    break;
                }
            case 6:
                {
                    var leader = _nodes.FirstOrDefault(n => n.IsUp && n.Core!.Role == RaftRole.Leader);
                    if (leader is not null && leader.Core!.Resign())
                    {
                        Trace($"nemesis: leader {leader.Id} resigns");
                        ProcessReady(leader);
                    }
                    break;
                }
            case 7:
                _lossRate = _random.Next(4) == 0 ? 0 : _random.NextDouble() * 0.3;
                _duplicateRate = _random.NextDouble() * 0.1;
                _maxDelayMs = 2 + _random.Next(_random.Next(4) == 0 ? 120 : 20);
                Trace(string.Create(CultureInfo.InvariantCulture, $"nemesis: loss {_lossRate:F2}, duplication {_duplicateRate:F2}, max delay {_maxDelayMs} ms"));
                break;
            default:
                for (int i = 0; i < _nodes.Count; i++)
                {
                    if (!_nodes[i].IsUp) StartNode(i);
                }
                break;
        }
    }

    private bool IsPaused(int index, out long resumeAt)
    {
        resumeAt = _pausedUntil.GetValueOrDefault(index);
        return resumeAt > _now;
    }

    private void CrashNode(SimNode node)
    {
        Trace($"crash node {node.Id} ({node.Disk.UnsyncedCount} unsynced entries)");
        node.Crash(_random);
        _controller?.OnCrash(node);
        _crashes++;
        if (!_healed) Schedule(50 + _random.Next(1_500), new Restart(node.Id.Value - 1));
    }

    private void HealAll()
    {
        _healed = true;
        _healTime = _now;
        _blocked.Clear();
        _lossRate = 0;
        _duplicateRate = 0;
        _maxDelayMs = Math.Min(_maxDelayMs, 20);
        Trace("heal: network healed, every node restarted");
        foreach (var n in _nodes) n.CrashDuringNextReady = false;
        _pausedUntil.Clear();
        for (int i = 0; i < _nodes.Count; i++)
        {
            if (!_nodes[i].IsUp) StartNode(i);
        }
    }

    private void RunClient()
    {
        var leaders = _nodes.Where(n => n.IsUp && n.Core!.Role == RaftRole.Leader).ToList();
        if (leaders.Count == 0) return;
        var leader = leaders[_random.Next(leaders.Count)];
        int batch = 1 + _random.Next(3);
        var records = new List<byte[]>();
        for (int i = 0; i < batch; i++) records.Add(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"r{_proposalCounter++}")));
        var result = leader.Core!.Propose(records);
        if (result.Status == ProposeStatus.Accepted && _healed) _postHealProposals.Add(result);
        ProcessReady(leader);
    }

    private static readonly bool TraceMessages = Environment.GetEnvironmentVariable("KRAFT_SIM_TRACE") == "1";

    private void Send(RaftMessage message)
    {
        _messages++;
        if (TraceMessages) Trace($"send {Format(message)}");
        if (message is VoteResponse { VoteGranted: true, PreVote: false } grant)
        {
            _checker.ObserveVoteGranted(grant.From.Value, grant.LeaderEpoch, grant.To.Value);
        }
        if (_blocked.Contains((message.From.Value, message.To.Value))) return;
        if (_random.NextDouble() < _lossRate) return;
        Schedule(1 + _random.Next(_maxDelayMs), new Deliver(message));
        if (_random.NextDouble() < _duplicateRate) Schedule(1 + _random.Next(_maxDelayMs * 2), new Deliver(message));
    }

    /// <summary>
    /// The driver's loop, as production will run it: carry out each Ready in the documented order,
    /// possibly crashing in the middle, then Advance; take a snapshot when enough was applied.
    /// </summary>
    private void ProcessReady(SimNode node)
    {
        for (int round = 0; node.IsUp && node.Core!.HasReady; round++)
        {
            if (round > 1_000) throw new InvalidOperationException("Ready loop does not settle");
            var core = node.Core;
            var ready = core.GetReady();
            int crashAtStep = node.CrashDuringNextReady ? _random.Next(8) : -1;
            if (UnsafeSendBeforeDurable)
            {
                foreach (var m in ready.Messages) Send(m);
                if (crashAtStep is >= 0 and <= 4) crashAtStep = 3; // lose the unsynced writes just acknowledged
            }
            if (crashAtStep == 0) { CrashNode(node); return; }
            if (ready.QuorumState is { } q)
            {
                node.Disk.WriteQuorumState(q);
                _checker.ObserveDurableQuorumState(node.Id.Value, q.Epoch, q.VotedFor?.Value);
            }
            if (ready.SnapshotToWrite is { } s) node.Disk.WriteSnapshot(s);
            if (crashAtStep == 1) { CrashNode(node); return; }
            if (ready.ResetLogTo is not null) { node.Disk.ResetLog(); _controller?.OnLogCut(node, long.MinValue); }
            if (ready.TruncateLogTo is { } t) { node.Disk.Truncate(t); _controller?.OnLogCut(node, t); }
            if (crashAtStep == 2) { CrashNode(node); return; }
            if (ready.DeleteLogBefore is { } d) node.Disk.DeleteBefore(d);
            node.Disk.Append(ready.EntriesToAppend);
            // As the production driver does: the messages the core allows leave before the fsync, so a crash at
            // step 3 loses entries that followers may already hold.
            var afterFsync = ready.Messages;
            if (!UnsafeSendBeforeDurable && ready.EntriesToAppend.Count > 0)
            {
                foreach (var m in ready.Messages.Where(ready.MaySendBeforeDurable)) Send(m);
                afterFsync = ready.Messages.Where(m => !ready.MaySendBeforeDurable(m)).ToList();
            }
            if (crashAtStep == 3) { CrashNode(node); return; }
            node.Disk.Fsync();
            if (crashAtStep == 4) { CrashNode(node); return; }
            int half = UnsafeSendBeforeDurable ? 0 : crashAtStep == 5 ? afterFsync.Count / 2 : afterFsync.Count;
            for (int i = 0; i < half; i++) Send(afterFsync[i]);
            if (crashAtStep == 5) { CrashNode(node); return; }
            // Production's driver tells the controller about a role change before it loads or applies anything.
            if (ready.RoleChange is { } changed) _controller?.OnRoleChange(node, changed);
            if (ready.SnapshotToLoad is { } load) node.LoadSnapshot(load);
            foreach (var entry in ready.CommittedEntries)
            {
                node.Apply(entry);
                _controller?.OnCommitted(node, entry);
            }
            _controller?.AfterReady(node);
            if (crashAtStep == 6) { CrashNode(node); return; }
            if (ready.RoleChange is { } role)
            {
                Trace($"node {node.Id}: {role.Role} epoch {role.Epoch} leader {role.LeaderId?.ToString() ?? "-"}");
                if (role.Role == RaftRole.Leader) _elections++;
            }
            core.Advance(ready);
            node.CrashDuringNextReady = node.CrashDuringNextReady && crashAtStep == 7 ? false : node.CrashDuringNextReady;
            if (core.AppliedOffset - core.Log.StartOffset >= _snapshotEvery && core.AppliedOffset == node.AppliedEnd)
            {
                core.CreateSnapshot(core.AppliedOffset, node.TakeSnapshot(_snapshotPadding));
            }
        }
    }

    /// <summary>Feeds the checker with every running node's state (incrementally for committed entries).</summary>
    private void CheckAll()
    {
        foreach (var node in _nodes)
        {
            if (!node.IsUp) continue;
            var core = node.Core!;
            int id = node.Id.Value;
            _checker.ObserveEpoch(id, node.Incarnation, core.Epoch);
            _checker.ObserveHighWatermark(id, node.Incarnation, core.HighWatermark);
            _checker.ObserveApplied(id, node.Incarnation, node.AppliedEnd, node.StateHash);
            var log = core.Log;
            long from = Math.Max(node.CheckedUpTo, log.StartOffset);
            long to = Math.Min(core.HighWatermark, log.EndOffset);
            for (long o = from; o < to; o++)
            {
                var e = log.Get(o);
                _checker.ObserveCommittedEntry(id, o, e.Epoch, SimNode.EntryHash(e), core.Epoch);
            }
            node.CheckedUpTo = Math.Max(node.CheckedUpTo, to);
            if (core.Role == RaftRole.Leader)
            {
                _checker.ObserveLeader(id, core.Epoch);
                if (node.LastLeaderEpochChecked != core.Epoch)
                {
                    node.LastLeaderEpochChecked = core.Epoch;
                    _checker.ObserveNewLeaderLog(id, core.Epoch, log.StartOffset,
                        o => o < log.EndOffset ? (log.Get(o).Epoch, SimNode.EntryHash(log.Get(o))) : null);
                }
            }
        }
        if (_healed && !_livenessReached) CheckLiveness();
    }

    private void CheckLiveness()
    {
        if (_nodes.Any(n => !n.IsUp)) return;
        var leaders = _nodes.Where(n => n.Core!.Role == RaftRole.Leader && n.Core.IsLeaderReady).ToList();
        if (leaders.Count != 1) return;
        long minHighWatermark = _nodes.Min(n => n.Core!.HighWatermark);
        var leaderLog = leaders[0].Core!.Log;
        foreach (var p in _postHealProposals)
        {
            if (p.LastOffset < minHighWatermark && p.LastOffset >= leaderLog.StartOffset && p.LastOffset < leaderLog.EndOffset
                && leaderLog.Get(p.LastOffset).Epoch == p.Epoch)
            {
                _livenessReached = true;
                Trace($"liveness: proposal at {p.LastOffset} committed on every node, {_now - _healTime} ms after healing");
                return;
            }
        }
    }

    private static string Format(RaftMessage m) => m switch
    {
        FetchRequest f => $"Fetch {f.From}->{f.To} #{f.CorrelationId} e{f.CurrentLeaderEpoch} off {f.FetchOffset} last {f.LastFetchedEpoch}",
        FetchResponse f => $"FetchResp {f.From}->{f.To} #{f.CorrelationId} {f.ErrorCode} e{f.LeaderEpoch} l{f.LeaderId} hw {f.HighWatermark} div {f.DivergingEpoch} snap {f.SnapshotId} n {f.Records.Count} first {(f.Records.Count > 0 ? f.Records[0].Offset : -1)}",
        _ => m.ToString(),
    };

    private string DescribeNodes() => string.Join("; ", _nodes.Select(n => n.IsUp
        ? string.Create(CultureInfo.InvariantCulture, $"{n.Id}:{n.Core!.Role}@{n.Core.Epoch} hw {n.Core.HighWatermark} end {n.Core.Log.EndOffset}")
        : $"{n.Id}:down"));
}
