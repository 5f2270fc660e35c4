using Kraft.Broker.Replication;
using Kraft.Storage.Log;

namespace Kraft.Broker.Tests.Replication;

/// <summary>
/// A deterministic, single-threaded simulation of one partition with three replicas driving the production
/// state machines (<see cref="LeaderPartitionState"/>, <see cref="FollowerPartitionState"/>,
/// <see cref="LeaderFetchCheck"/>) and the real <see cref="LeaderEpochCache"/>, with a minimal controller:
/// it commits ISR changes guarded by epochs, removes fenced brokers from the ISR (never the last member),
/// and elects the first live ISR member in replica order (or, when allowed, any live replica: unclean).
/// Faults: broker kills and restarts (a kill keeps what was written, as SIGKILL does to the page cache).
/// After every step it checks: no acknowledged acks=all write is lost; a record once below a high
/// watermark is never rolled back; a leader's high watermark never goes back in its epoch; replicas in
/// the ISR agree with the leader below the high watermark.
/// </summary>
public sealed class ReplicationSimulation
{
    public sealed record Options(bool UncleanElection = false, int Acks = -1, int MinInSyncReplicas = 2, int Steps = 400, double KillProbability = 0.03);

    private sealed class Replica(int id)
    {
        public int Id { get; } = id;
        public List<(long Offset, int Epoch, long Id)> Log { get; } = [];
        public LeaderEpochCache Epochs { get; } = new(null);
        public bool Alive { get; set; } = true;
        public FollowerPartitionState? Follower { get; set; }
        public long LogEndOffset => Log.Count;
        public int LastEpoch => Log.Count == 0 ? -1 : Log[^1].Epoch;

        public (int, long) EndOffsetFor(int epoch) => Epochs.EndOffsetFor(epoch, LogEndOffset);

        public void Append((long Offset, int Epoch, long Id) record)
        {
            if (record.Offset != Log.Count) throw new InvalidOperationException($"replica {Id}: append at {record.Offset} with log end {Log.Count}");
            if (record.Epoch > Epochs.LatestEpoch) Epochs.Assign(record.Epoch, record.Offset);
            Log.Add(record);
        }

        public void TruncateTo(long offset)
        {
            if (offset < Log.Count) Log.RemoveRange((int)offset, Log.Count - (int)offset);
            Epochs.TruncateFromEnd(Log.Count);
        }
    }

    private readonly Random _random;
    private readonly Options _options;
    private readonly Replica[] _replicas = [new(0), new(1), new(2)];
    private readonly int[] _replicaOrder = [0, 1, 2];
    private readonly ReplicationConfig _config;
    private readonly List<AlterIsrRequest> _pendingAlters = [];
    private readonly Dictionary<long, (long Offset, long Id)> _acknowledged = [];
    private readonly Dictionary<long, long> _committed = []; // offset -> record id, ever below a high watermark
    private readonly List<(long RequiredOffset, long Offset, long Id)> _waiting = [];
    private List<int> _isr = [0, 1, 2];
    private int _leader = 0;
    private int _leaderEpoch = 0;
    private int _partitionEpoch = 0;
    private LeaderPartitionState? _leaderState;
    private long _nowMs;
    private long _nextId;
    private long _lastHighWatermark;

    public ReplicationSimulation(int seed, Options options)
    {
        _random = new Random(seed);
        _options = options;
        _config = new ReplicationConfig { ReplicaLagTimeMaxMs = 300, MinInSyncReplicas = options.MinInSyncReplicas };
        BecomeLeader(0);
    }

    public List<string> Violations { get; } = [];
    public int Acknowledged => _acknowledged.Count;
    public long HighWatermark => _leaderState?.HighWatermark ?? -1;

    public void Run()
    {
        for (int step = 0; step < _options.Steps && Violations.Count == 0; step++)
        {
            int action = _random.Next(100);
            if (action < 25) Produce();
            else if (action < 70) FollowerFetch(_replicas[_random.Next(3)]);
            else if (action < 80) Controller();
            else if (action < 90) Tick();
            else if (_random.NextDouble() < _options.KillProbability * 10) KillOrRestart();
            CheckInvariants(step);
        }
        // Heal: everyone back, then enough rounds for the followers to catch up.
        foreach (var r in _replicas.Where(r => !r.Alive)) Restart(r);
        for (int i = 0; i < 200 && Violations.Count == 0; i++)
        {
            foreach (var r in _replicas) FollowerFetch(r);
            Controller();
            CheckInvariants(-1);
        }
        // Liveness after healing: one leader, every replica back in the ISR with the leader's exact log.
        if (Violations.Count == 0)
        {
            if (_leaderState is null)
            {
                Violations.Add("liveness: no leader after every broker came back");
                return;
            }
            var leaderLog = _replicas[_leader].Log.Select(r => r.Id);
            foreach (var r in _replicas)
            {
                if (!r.Log.Select(x => x.Id).SequenceEqual(leaderLog)) Violations.Add($"liveness: replica {r.Id} did not converge to leader {_leader}'s log");
                if (!_isr.Contains(r.Id)) Violations.Add($"liveness: replica {r.Id} did not rejoin the ISR {string.Join(",", _isr)}");
            }
            if (_leaderState.HighWatermark != _replicas[_leader].LogEndOffset) Violations.Add("liveness: the high watermark did not reach the log end");
        }
    }

    private void Produce()
    {
        if (_leaderState is null || !_replicas[_leader].Alive) return;
        var leader = _replicas[_leader];
        if (_options.Acks == -1 && _leaderState.CheckAcksAllAppend(_options.MinInSyncReplicas) != ReplicationError.None) return;
        var record = (leader.LogEndOffset, _leaderEpoch, _nextId++);
        leader.Append(record);
        Apply(_leaderState.OnLocalAppend(leader.LogEndOffset, _nowMs));
        if (_options.Acks == 1) _acknowledged[record.Item3] = (record.Item1, record.Item3);
        else if (_options.Acks == -1) _waiting.Add((record.Item1 + 1, record.Item1, record.Item3));
    }

    private void FollowerFetch(Replica follower)
    {
        if (!follower.Alive || follower.Follower is null || _leaderState is null || !_replicas[_leader].Alive) return;
        var leader = _replicas[_leader];
        var position = follower.Follower.NextFetch();
        var verdict = LeaderFetchCheck.Check(_leaderEpoch, position.CurrentLeaderEpoch, position.FetchOffset, position.LastFetchedEpoch,
            0, leader.LogEndOffset, leader.EndOffsetFor);
        FetchAnswer answer;
        List<(long, int, long)> records = [];
        if (verdict.Error != ReplicationError.None || verdict.DivergingEpoch is not null)
        {
            answer = new FetchAnswer(verdict.Error, _leaderState.HighWatermark, 0, leader.LogEndOffset, verdict.DivergingEpoch, -1);
        }
        else
        {
            Apply(_leaderState.OnFollowerFetch(follower.Id, position.FetchOffset, _nowMs));
            int count = _random.Next(0, 4);
            records = leader.Log.Skip((int)position.FetchOffset).Take(count).ToList();
            answer = new FetchAnswer(ReplicationError.None, _leaderState.HighWatermark, 0, leader.LogEndOffset, null, records.Count > 0 ? records[0].Item1 : -1);
        }
        var action = follower.Follower.OnFetchResponse(answer, follower.EndOffsetFor);
        switch (action.Kind)
        {
            case FollowerActionKind.Append:
                foreach (var r in records) follower.Append(r);
                follower.Follower.OnAppended(follower.LogEndOffset, follower.LastEpoch, action.Offset);
                break;
            case FollowerActionKind.Truncate:
                follower.TruncateTo(action.Offset);
                follower.Follower.OnTruncated(follower.LogEndOffset, follower.LastEpoch);
                break;
            case FollowerActionKind.RestartAt:
                follower.TruncateTo(0);
                follower.Follower.OnTruncated(0, -1);
                break;
        }
    }

    private void Tick()
    {
        _nowMs += _random.Next(1, 150);
        if (_leaderState is not null && _replicas[_leader].Alive) Apply(_leaderState.OnTick(_nowMs));
        CompleteWaiting();
    }

    private void Apply(LeaderUpdate update)
    {
        if (update.AlterIsr is { } alter) _pendingAlters.Add(alter);
        CompleteWaiting();
    }

    private void CompleteWaiting()
    {
        if (_leaderState is null) return;
        for (int i = _waiting.Count - 1; i >= 0; i--)
        {
            var (required, offset, id) = _waiting[i];
            var (done, error) = _leaderState.CheckRequiredOffset(required, _options.MinInSyncReplicas);
            if (done)
            {
                if (error == ReplicationError.None) _acknowledged[id] = (offset, id);
                _waiting.RemoveAt(i);
            }
        }
    }

    /// <summary>The controller answers pending AlterPartition requests, guarded by leader and partition epochs.</summary>
    private void Controller()
    {
        foreach (var alter in _pendingAlters.ToList())
        {
            _pendingAlters.Remove(alter);
            if (_leaderState is null) continue;
            bool valid = alter.LeaderEpoch == _leaderEpoch && alter.PartitionEpoch == _partitionEpoch
                && alter.NewIsr.All(id => _replicas[id].Alive || id == _leader);
            if (!valid)
            {
                if (alter.LeaderEpoch == _leaderEpoch) _leaderState.OnIsrChangeRefused();
                continue;
            }
            _isr = [.. alter.NewIsr];
            _partitionEpoch++;
            Apply(_leaderState.OnIsrCommitted(_isr, _partitionEpoch, _nowMs));
        }
    }

    private void KillOrRestart()
    {
        var dead = _replicas.Where(r => !r.Alive).ToList();
        if (dead.Count > 0 && (_random.Next(2) == 0 || dead.Count == _replicas.Length))
        {
            Restart(dead[_random.Next(dead.Count)]);
            return;
        }
        var alive = _replicas.Where(r => r.Alive).ToList();
        var victim = alive[_random.Next(alive.Count)];
        victim.Alive = false;
        victim.Follower = null;
        // The controller fences it: out of the ISR unless it is the last member; a new leader if it led.
        if (_isr.Count > 1 && _isr.Contains(victim.Id))
        {
            _isr.Remove(victim.Id);
            _partitionEpoch++;
            if (_leaderState is not null && victim.Id != _leader) Apply(_leaderState.OnIsrCommitted(_isr, _partitionEpoch, _nowMs));
        }
        if (victim.Id == _leader) Elect();
    }

    private void Restart(Replica replica)
    {
        replica.Alive = true;
        if (_leaderState is null || !_replicas[_leader].Alive) Elect();
        else replica.Follower = new FollowerPartitionState(_leader, _leaderEpoch, replica.LogEndOffset, replica.LastEpoch, 0);
    }

    private void Elect()
    {
        int next = _replicaOrder.Where(id => _isr.Contains(id) && _replicas[id].Alive).DefaultIfEmpty(-1).First();
        if (next < 0 && _options.UncleanElection)
        {
            next = _replicaOrder.Where(id => _replicas[id].Alive).DefaultIfEmpty(-1).First();
            if (next >= 0) _isr = [next];
        }
        if (next < 0)
        {
            _leaderState = null; // offline until an ISR member returns
            foreach (var r in _replicas) r.Follower = null;
            return;
        }
        BecomeLeader(next);
    }

    private void BecomeLeader(int id)
    {
        _leader = id;
        _leaderEpoch++;
        _partitionEpoch++;
        _pendingAlters.Clear();
        _waiting.Clear(); // in-flight acks=all produces are answered NOT_LEADER_OR_FOLLOWER: not acknowledged
        _lastHighWatermark = 0;
        var leader = _replicas[id];
        long hw = Math.Min(_committed.Count == 0 ? 0 : _committed.Keys.Max() + 1, leader.LogEndOffset);
        _leaderState = new LeaderPartitionState(id, _leaderEpoch, _partitionEpoch, _replicaOrder, _isr, leader.LogEndOffset, hw, _nowMs, _config);
        _lastHighWatermark = hw;
        foreach (var r in _replicas)
        {
            r.Follower = r.Id != id && r.Alive ? new FollowerPartitionState(id, _leaderEpoch, r.LogEndOffset, r.LastEpoch, 0) : null;
        }
    }

    private void CheckInvariants(int step)
    {
        if (_leaderState is null) return;
        var leader = _replicas[_leader];
        long hw = _leaderState.HighWatermark;
        if (hw < _lastHighWatermark) Violations.Add($"step {step}: high watermark went back from {_lastHighWatermark} to {hw} in epoch {_leaderEpoch}");
        _lastHighWatermark = hw;
        for (long o = 0; o < hw; o++) _committed.TryAdd(o, leader.Log[(int)o].Id);
        foreach (var (offset, id) in _committed)
        {
            if (offset >= leader.LogEndOffset || leader.Log[(int)offset].Id != id)
            {
                Violations.Add($"step {step}: committed record {id} at offset {offset} is missing from leader {_leader} (log end {leader.LogEndOffset}, epoch {_leaderEpoch})");
                return;
            }
        }
        foreach (var (id, (offset, _)) in _acknowledged)
        {
            if (offset >= leader.LogEndOffset || leader.Log[(int)offset].Id != id)
            {
                Violations.Add($"step {step}: acknowledged record {id} at offset {offset} lost on leader {_leader} (epoch {_leaderEpoch})");
                return;
            }
        }
        foreach (int member in _isr.Where(m => m != _leader && _replicas[m].Alive))
        {
            var log = _replicas[member].Log;
            for (int o = 0; o < Math.Min(hw, log.Count); o++)
            {
                if (log[o].Id != leader.Log[o].Id)
                {
                    Violations.Add($"step {step}: ISR member {member} disagrees with leader {_leader} at offset {o} below the high watermark {hw}");
                    return;
                }
            }
        }
    }
}
