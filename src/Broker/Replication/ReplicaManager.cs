using Kraft.Broker.Cluster;
using Kraft.Storage.Log;

namespace Kraft.Broker.Replication;

/// <summary>
/// The partitions this broker hosts. Applying a <see cref="ClusterView"/> (from the committed metadata) makes each
/// local replica leader or follower in the view's leader epoch, opens logs for new replicas ("LOGDIR/topic-N") and
/// closes and deletes replicas that are no longer assigned here (topic deletion, reassignment).
/// Thread-safety: Apply is called from one thread (the metadata listener); lookups are lock-free reads of an
/// immutable snapshot of the partition table.
/// </summary>
public sealed class ReplicaManager : IDisposable
{
    private readonly int _brokerId;
    private readonly string _logDirectory;
    private readonly Func<string, LogConfig> _logConfigFor;
    private readonly ReplicationConfig _replication;
    private readonly TimeProvider _time;
    private readonly Action<Partition, AlterIsrRequest> _sendAlterIsr;
    private readonly Lock _applyLock = new();
    private Dictionary<(string Topic, int Partition), Partition> _partitions = [];

    public ReplicaManager(int brokerId, string logDirectory, Func<string, LogConfig> logConfigFor, ReplicationConfig replication, TimeProvider time, Action<Partition, AlterIsrRequest> sendAlterIsr)
    {
        _brokerId = brokerId;
        _logDirectory = logDirectory;
        _logConfigFor = logConfigFor;
        _replication = replication;
        _time = time;
        _sendAlterIsr = sendAlterIsr;
        Directory.CreateDirectory(logDirectory);
    }

    public int BrokerId => _brokerId;

    /// <summary>Signalled when any local partition's data or high watermark changes (wakes long-poll fetches).</summary>
    public ChangeSignal Changed { get; } = new();

    public IReadOnlyCollection<Partition> Partitions => Volatile.Read(ref _partitions).Values;

    public Partition? Get(string topic, int partition) =>
        Volatile.Read(ref _partitions).GetValueOrDefault((topic, partition));

    /// <summary>Makes the local replicas match <paramref name="view"/>: become leader or follower, open new ones, drop old ones.</summary>
    public void Apply(ClusterView view)
    {
        lock (_applyLock)
        {
            var next = new Dictionary<(string, int), Partition>(_partitions);
            var wanted = new HashSet<(string, int)>();
            foreach (var info in view.PartitionsOn(_brokerId))
            {
                var key = (info.Topic, info.Partition);
                wanted.Add(key);
                if (!next.TryGetValue(key, out var partition))
                {
                    var log = SegmentedLog.Open(Path.Combine(_logDirectory, $"{info.Topic}-{info.Partition}"), _logConfigFor(info.Topic), _time);
                    partition = new Partition(info.Topic, info.Partition, _brokerId, log, _replication, _time, _sendAlterIsr, Changed);
                    next[key] = partition;
                }
                if (info.Leader == _brokerId)
                {
                    partition.BecomeLeader(info.LeaderEpoch, info.PartitionEpoch, info.Replicas, info.Isr);
                }
                else if (info.Leader >= 0)
                {
                    partition.BecomeFollower(info.Leader, info.LeaderEpoch);
                }
            }
            var removed = next.Keys.Where(k => !wanted.Contains(k)).ToList();
            foreach (var key in removed)
            {
                var partition = next[key];
                next.Remove(key);
                string directory = partition.Log.Directory;
                partition.Dispose();
                bool topicGone = !view.Topics.ContainsKey(key.Item1);
                if (topicGone || !view.Topics[key.Item1].Partitions.Any(p => p.Partition == key.Item2 && p.Replicas.Contains(_brokerId)))
                {
                    Directory.Delete(directory, recursive: true);
                }
            }
            Volatile.Write(ref _partitions, next);
        }
        Changed.Notify();
    }

    /// <summary>Periodic work for every partition (ISR shrink checks, high-watermark checkpoints, time-based flush).</summary>
    public void Tick()
    {
        // Under the apply lock so that no partition is closed (and its directory deleted) while its checkpoint is written.
        lock (_applyLock)
        {
            foreach (var partition in _partitions.Values)
            {
                partition.Tick();
                partition.Log.MaybeFlush();
            }
        }
    }

    public void Dispose()
    {
        lock (_applyLock)
        {
            foreach (var partition in _partitions.Values)
            {
                partition.Dispose();
            }
            _partitions = [];
        }
    }
}
