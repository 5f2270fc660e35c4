namespace Kraft.Broker.Replication;

/// <summary>
/// What the leader of one partition knows about replication, as pure state: each follower's log end
/// offset and when it was last caught up, the committed ISR and any ISR change waiting at the controller,
/// and the high watermark. Inputs are method calls with the current time; outputs are values (a new high
/// watermark, an AlterPartition to send). No I/O, no clock: the replica manager drives it.
/// <para>Invariants (checked on every change): the leader is in the ISR; the high watermark never goes
/// back and never passes the leader's log end offset; it never passes the log end offset of any member
/// of the maximal ISR (the committed ISR plus a pending expansion; a pending shrink still counts the
/// replica being removed, KIP-497), so a record below the high watermark is held by every replica
/// that could become leader.</para>
/// <para>Thread-safety: none; the owner serializes calls (one partition lock or actor).</para>
/// </summary>
public sealed class LeaderPartitionState
{
    private readonly Dictionary<int, FollowerProgress> _followers = [];
    private readonly ReplicationConfig _config;
    private List<int> _isr;

    public LeaderPartitionState(
        int localReplicaId,
        int leaderEpoch,
        int partitionEpoch,
        IReadOnlyList<int> replicas,
        IReadOnlyList<int> isr,
        long leaderLogEndOffset,
        long highWatermark,
        long nowMs,
        ReplicationConfig config)
    {
        Check(isr.Contains(localReplicaId), "a leader must be in its own ISR");
        Check(replicas.Contains(localReplicaId), "a leader must be one of the replicas");
        Check(highWatermark <= leaderLogEndOffset, "high watermark above the leader's log end offset");
        LocalReplicaId = localReplicaId;
        LeaderEpoch = leaderEpoch;
        PartitionEpoch = partitionEpoch;
        Replicas = replicas.ToArray();
        _isr = isr.ToList();
        _config = config;
        LeaderLogEndOffset = leaderLogEndOffset;
        HighWatermark = highWatermark;
        // Records from earlier epochs are committed only through records of this epoch (as in Raft):
        // a follower must reach this offset before it may join the ISR.
        LeaderEpochStartOffset = leaderLogEndOffset;
        foreach (int replica in replicas)
        {
            if (replica != localReplicaId)
            {
                // Unknown until the first fetch; ISR members get a full lag window before they can be removed.
                _followers[replica] = new FollowerProgress(replica, -1, isr.Contains(replica) ? nowMs : -1, -1, -1);
            }
        }
    }

    public int LocalReplicaId { get; }
    public int LeaderEpoch { get; }
    public int PartitionEpoch { get; private set; }
    public IReadOnlyList<int> Replicas { get; private set; }
    public IReadOnlyList<int> Isr => _isr;
    public long LeaderLogEndOffset { get; private set; }
    public long HighWatermark { get; private set; }
    public long LeaderEpochStartOffset { get; }

    /// <summary>The ISR change sent to the controller and not yet answered, if any (one at a time).</summary>
    public AlterIsrRequest? PendingIsrChange { get; private set; }

    /// <summary>Replicas the high watermark must wait for: the ISR plus a pending expansion (a pending shrink still counts the leaver).</summary>
    public IReadOnlyCollection<int> MaximalIsr =>
        PendingIsrChange is null ? _isr : _isr.Union(PendingIsrChange.NewIsr).ToList();

    public FollowerProgress? Follower(int replicaId) => _followers.GetValueOrDefault(replicaId);

    /// <summary>The local log grew (a produce was appended).</summary>
    public LeaderUpdate OnLocalAppend(long newLogEndOffset, long nowMs)
    {
        Check(newLogEndOffset >= LeaderLogEndOffset, "the leader's log end offset went back");
        LeaderLogEndOffset = newLogEndOffset;
        return new LeaderUpdate(MaybeAdvanceHighWatermark(nowMs), null);
    }

    /// <summary>
    /// A follower fetched from <paramref name="fetchOffset"/> (so it holds everything below it, its fetch having
    /// passed the divergence check). Updates its progress, may advance the high watermark, and may ask to add it
    /// to the ISR once it has reached both the high watermark and the start of this leader's epoch.
    /// </summary>
    public LeaderUpdate OnFollowerFetch(int replicaId, long fetchOffset, long nowMs)
    {
        if (!_followers.TryGetValue(replicaId, out var progress))
        {
            return default; // not a replica of this partition: the caller answers with an error
        }
        Check(fetchOffset <= LeaderLogEndOffset, $"follower {replicaId} fetched at {fetchOffset}, beyond the leader's log end {LeaderLogEndOffset}");
        long caughtUp = progress.LastCaughtUpTimeMs;
        if (fetchOffset >= LeaderLogEndOffset)
        {
            caughtUp = nowMs;
        }
        else if (progress.LastFetchLeaderLogEndOffset >= 0 && fetchOffset >= progress.LastFetchLeaderLogEndOffset)
        {
            // It now holds everything the leader had at its previous fetch: it was caught up then.
            caughtUp = Math.Max(caughtUp, progress.LastFetchTimeMs);
        }
        _followers[replicaId] = progress with
        {
            LogEndOffset = fetchOffset,
            LastCaughtUpTimeMs = caughtUp,
            LastFetchTimeMs = nowMs,
            LastFetchLeaderLogEndOffset = LeaderLogEndOffset,
        };

        AlterIsrRequest? alter = null;
        if (PendingIsrChange is null && !_isr.Contains(replicaId)
            && fetchOffset >= HighWatermark && fetchOffset >= LeaderEpochStartOffset)
        {
            alter = Propose([.. _isr, replicaId]);
        }
        return new LeaderUpdate(MaybeAdvanceHighWatermark(nowMs), alter);
    }

    /// <summary>Periodic check: followers in the ISR that have not caught up within replica.lag.time.max.ms are proposed for removal.</summary>
    public LeaderUpdate OnTick(long nowMs)
    {
        if (PendingIsrChange is not null)
        {
            return default;
        }
        var lagging = _isr.Where(id => id != LocalReplicaId && IsLagging(_followers[id], nowMs)).ToList();
        if (lagging.Count == 0)
        {
            return default;
        }
        return new LeaderUpdate(null, Propose(_isr.Except(lagging).ToList()));
    }

    /// <summary>
    /// The controller committed a new ISR for this partition (from the metadata log or an AlterPartition
    /// answer). Clears the pending change and may advance the high watermark (a shrink can unblock it).
    /// </summary>
    public LeaderUpdate OnIsrCommitted(IReadOnlyList<int> isr, int partitionEpoch, long nowMs)
    {
        if (partitionEpoch < PartitionEpoch)
        {
            return default; // an older state than the one we have
        }
        Check(isr.Contains(LocalReplicaId), "the committed ISR of a leader must contain the leader");
        _isr = isr.ToList();
        PartitionEpoch = partitionEpoch;
        PendingIsrChange = null;
        return new LeaderUpdate(MaybeAdvanceHighWatermark(nowMs), null);
    }

    /// <summary>
    /// The replica set changed within this leader epoch (a reassignment adding or removing replicas): track new
    /// followers from their first fetch and forget removed ones. The ISR changes only through the controller.
    /// </summary>
    public void OnReplicasChanged(IReadOnlyList<int> replicas, long nowMs)
    {
        Check(replicas.Contains(LocalReplicaId), "a leader must stay one of the replicas");
        foreach (int replica in replicas)
        {
            if (replica != LocalReplicaId && !_followers.ContainsKey(replica))
            {
                _followers[replica] = new FollowerProgress(replica, -1, _isr.Contains(replica) ? nowMs : -1, -1, -1);
            }
        }
        foreach (int gone in _followers.Keys.Where(id => !replicas.Contains(id) && !_isr.Contains(id)).ToList())
        {
            _followers.Remove(gone);
        }
        Replicas = replicas.ToArray();
    }

    /// <summary>The controller refused the pending change (stale epoch, ineligible replica): forget it and try again later.</summary>
    public void OnIsrChangeRefused() => PendingIsrChange = null;

    /// <summary>acks=all is refused up front when the ISR is smaller than min.insync.replicas.</summary>
    public ReplicationError CheckAcksAllAppend(int minInSyncReplicas) =>
        _isr.Count < minInSyncReplicas ? ReplicationError.NotEnoughReplicas : ReplicationError.None;

    /// <summary>
    /// Whether an acks=all produce that needs <paramref name="requiredOffset"/> (its last offset + 1) is done:
    /// once the high watermark covers it, answered NONE, or NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank
    /// below min.insync.replicas meanwhile (Kafka's rule).
    /// </summary>
    public (bool Done, ReplicationError Error) CheckRequiredOffset(long requiredOffset, int minInSyncReplicas)
    {
        if (HighWatermark < requiredOffset)
        {
            return (false, ReplicationError.None);
        }
        return (true, _isr.Count < minInSyncReplicas ? ReplicationError.NotEnoughReplicasAfterAppend : ReplicationError.None);
    }

    private bool IsLagging(FollowerProgress progress, long nowMs) =>
        progress.LogEndOffset < LeaderLogEndOffset && nowMs - progress.LastCaughtUpTimeMs > _config.ReplicaLagTimeMaxMs;

    private AlterIsrRequest Propose(List<int> newIsr)
    {
        Check(newIsr.Contains(LocalReplicaId), "a proposed ISR must keep the leader");
        PendingIsrChange = new AlterIsrRequest(LeaderEpoch, PartitionEpoch, newIsr);
        return PendingIsrChange;
    }

    /// <summary>
    /// High watermark = the smallest log end offset over the maximal ISR (the leader included). In Kafka's model
    /// only ISR members can become leader (clean election), so a record every one of them holds is committed,
    /// whatever epoch wrote it. A member whose position is unknown since this leader took over holds it back.
    /// </summary>
    private long? MaybeAdvanceHighWatermark(long nowMs)
    {
        _ = nowMs;
        long candidate = LeaderLogEndOffset;
        foreach (int id in MaximalIsr)
        {
            if (id == LocalReplicaId)
            {
                continue;
            }
            long followerEnd = _followers.TryGetValue(id, out var progress) ? progress.LogEndOffset : -1;
            candidate = Math.Min(candidate, followerEnd < 0 ? HighWatermark : followerEnd);
        }
        if (candidate <= HighWatermark)
        {
            return null;
        }
        HighWatermark = candidate;
        Check(HighWatermark <= LeaderLogEndOffset, "high watermark above the leader's log end offset");
        return HighWatermark;
    }

    private static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidOperationException("replication invariant violated: " + message);
        }
    }
}

/// <summary>What the leader knows of one follower (Kafka's replica state).</summary>
public sealed record FollowerProgress(int ReplicaId, long LogEndOffset, long LastCaughtUpTimeMs, long LastFetchTimeMs, long LastFetchLeaderLogEndOffset);

/// <summary>Outputs of a leader step: the new high watermark if it moved, an ISR change to send to the controller.</summary>
public readonly record struct LeaderUpdate(long? NewHighWatermark, AlterIsrRequest? AlterIsr);

/// <summary>An AlterPartition for the controller, guarded by the leader and partition epochs it was computed from.</summary>
public sealed record AlterIsrRequest(int LeaderEpoch, int PartitionEpoch, IReadOnlyList<int> NewIsr);
