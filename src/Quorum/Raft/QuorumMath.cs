namespace Kraft.Quorum.Raft;

/// <summary>Quorum arithmetic, kept apart so that tests can compare it with a naive reference.</summary>
public static class QuorumMath
{
    /// <summary>The number of votes that make a majority of <paramref name="voterCount"/> voters.</summary>
    public static int Majority(int voterCount)
    {
        Invariant.Check(voterCount > 0, "a quorum needs at least one voter");
        return voterCount / 2 + 1;
    }

    /// <summary>
    /// The largest offset that at least a majority of the given per-voter offsets reach (the
    /// candidate high watermark). One value per voter.
    /// </summary>
    public static long MajorityOffset(IReadOnlyList<long> voterOffsets)
    {
        int n = voterOffsets.Count;
        Invariant.Check(n > 0, "no voter offsets");
        var sorted = new long[n];
        for (int i = 0; i < n; i++) sorted[i] = voterOffsets[i];
        Array.Sort(sorted);
        // Sorted ascending: the value at index n - majority is reached by exactly the majority above it.
        return sorted[n - Majority(n)];
    }
}

/// <summary>One replica as the leader sees it (a DescribeQuorum ReplicaState).</summary>
public sealed record ReplicaDescription(NodeId ReplicaId, long LogEndOffset, long LastFetchTimestampMs, long LastCaughtUpTimestampMs);

/// <summary>What DescribeQuorum (API key 55) reports; only the leader can answer (times are the core's logical milliseconds).</summary>
public sealed record QuorumDescription(NodeId LeaderId, int LeaderEpoch, long HighWatermark, IReadOnlyList<ReplicaDescription> CurrentVoters, IReadOnlyList<ReplicaDescription> Observers);
