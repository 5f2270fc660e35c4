namespace Kraft.Broker.Replication;

/// <summary>
/// The leader's checks on an incoming follower or consumer Fetch for one partition, as a pure function of
/// the leader's epoch and its leader-epoch cache (KIP-320, KIP-595-style divergence detection in Fetch).
/// </summary>
public static class LeaderFetchCheck
{
    /// <summary>
    /// Returns the error to answer with, or a diverging epoch (the follower must truncate), or a go-ahead.
    /// <paramref name="currentLeaderEpoch"/> -1 means the requester did not say (older clients): not fenced.
    /// </summary>
    public static FetchVerdict Check(
        int leaderEpoch,
        int currentLeaderEpoch,
        long fetchOffset,
        int lastFetchedEpoch,
        long logStartOffset,
        long logEndOffset,
        Func<int, (int Epoch, long EndOffset)> endOffsetForEpoch)
    {
        if (currentLeaderEpoch >= 0 && currentLeaderEpoch < leaderEpoch)
        {
            return FetchVerdict.Fail(ReplicationError.FencedLeaderEpoch);
        }
        if (currentLeaderEpoch > leaderEpoch)
        {
            return FetchVerdict.Fail(ReplicationError.UnknownLeaderEpoch);
        }
        if (lastFetchedEpoch >= 0)
        {
            var (epoch, endOffset) = endOffsetForEpoch(lastFetchedEpoch);
            if (epoch != lastFetchedEpoch || endOffset < fetchOffset)
            {
                // The follower's last record is of an epoch that ends earlier here (or that we never had).
                return FetchVerdict.Diverging(epoch, endOffset);
            }
        }
        if (fetchOffset < logStartOffset || fetchOffset > logEndOffset)
        {
            return FetchVerdict.Fail(ReplicationError.OffsetOutOfRange);
        }
        return FetchVerdict.Ok;
    }
}

public readonly record struct FetchVerdict(ReplicationError Error, (int Epoch, long EndOffset)? DivergingEpoch)
{
    public static FetchVerdict Ok => new(ReplicationError.None, null);

    public static FetchVerdict Fail(ReplicationError error) => new(error, null);

    public static FetchVerdict Diverging(int epoch, long endOffset) => new(ReplicationError.None, (epoch, endOffset));
}
