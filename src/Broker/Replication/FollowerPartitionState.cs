namespace Kraft.Broker.Replication;

/// <summary>
/// The follower side of one partition as pure state: what to fetch next (offset, last fetched epoch, the
/// leader epoch it believes in) and what to do with each answer: append, truncate where its log diverges
/// from the leader's (KIP-101/KIP-279/KIP-320), restart at the leader's log start, or back off.
/// The caller applies the returned action to the log and reports the new log end offset.
/// <para>Invariant: the follower's high watermark never passes its own log end offset and never goes back
/// while it follows the same leader epoch.</para>
/// <para>Thread-safety: none; owned by the partition's fetcher.</para>
/// </summary>
public sealed class FollowerPartitionState
{
    public FollowerPartitionState(int leaderId, int leaderEpoch, long logEndOffset, int lastFetchedEpoch, long highWatermark)
    {
        LeaderId = leaderId;
        LeaderEpoch = leaderEpoch;
        LogEndOffset = logEndOffset;
        LastFetchedEpoch = lastFetchedEpoch;
        HighWatermark = Math.Min(highWatermark, logEndOffset);
    }

    public int LeaderId { get; }
    public int LeaderEpoch { get; }
    public long LogEndOffset { get; private set; }
    public int LastFetchedEpoch { get; private set; }
    public long HighWatermark { get; private set; }

    /// <summary>The next Fetch: the follower's log end offset, the epoch of its last record, and the leader epoch it follows.</summary>
    public FetchPosition NextFetch() => new(LogEndOffset, LastFetchedEpoch, LeaderEpoch);

    /// <summary>Decides what to do with the leader's answer to <see cref="NextFetch"/>.</summary>
    /// <param name="endOffsetForEpoch">The local leader-epoch cache: (epoch, end offset) for a requested epoch, or (-1, -1).</param>
    public FollowerAction OnFetchResponse(FetchAnswer answer, Func<int, (int Epoch, long EndOffset)> endOffsetForEpoch)
    {
        switch (answer.Error)
        {
            case ReplicationError.None:
                break;
            case ReplicationError.OffsetOutOfRange:
                // Our offset is outside the leader's log: below its start (retention ran) or, after an unclean
                // election, above its end. Restart at its start, or cut back to its end.
                if (LogEndOffset > answer.LeaderLogEndOffset && answer.LeaderLogEndOffset >= 0)
                {
                    return FollowerAction.Truncate(answer.LeaderLogEndOffset);
                }
                return FollowerAction.RestartAt(Math.Max(answer.LeaderLogStartOffset, 0));
            default:
                // Fenced, unknown epoch, not leader: wait for new metadata before fetching again.
                return FollowerAction.Backoff(answer.Error);
        }

        if (answer.DivergingEpoch is { } diverging)
        {
            return Truncation(diverging.Epoch, diverging.EndOffset, endOffsetForEpoch);
        }

        if (answer.RecordsBaseOffset >= 0 && answer.RecordsBaseOffset > LogEndOffset)
        {
            // The leader skipped ahead (its log start passed our end): start again there.
            return FollowerAction.RestartAt(answer.RecordsBaseOffset);
        }
        return FollowerAction.Append(Math.Min(answer.HighWatermark, long.MaxValue));
    }

    /// <summary>After the caller appended the fetched records: the new log end offset and last epoch, and the leader's high watermark.</summary>
    public void OnAppended(long newLogEndOffset, int lastEpoch, long leaderHighWatermark)
    {
        if (newLogEndOffset < LogEndOffset)
        {
            throw new InvalidOperationException($"log end offset went back from {LogEndOffset} to {newLogEndOffset} without a truncation");
        }
        LogEndOffset = newLogEndOffset;
        if (lastEpoch >= 0)
        {
            LastFetchedEpoch = lastEpoch;
        }
        HighWatermark = Math.Max(HighWatermark, Math.Min(leaderHighWatermark, LogEndOffset));
    }

    /// <summary>After the caller truncated or restarted the log: the new end and the epoch of its last record.</summary>
    public void OnTruncated(long newLogEndOffset, int lastEpoch)
    {
        LogEndOffset = newLogEndOffset;
        LastFetchedEpoch = lastEpoch;
        HighWatermark = Math.Min(HighWatermark, LogEndOffset);
    }

    private FollowerAction Truncation(int leaderEpoch, long leaderEndOffset, Func<int, (int Epoch, long EndOffset)> endOffsetForEpoch)
    {
        if (leaderEndOffset < 0)
        {
            // The leader knows nothing older than our last epoch: fall back to the high watermark (always safe to keep).
            return FollowerAction.Truncate(HighWatermark);
        }
        var (followerEpoch, followerEndOffset) = endOffsetForEpoch(leaderEpoch);
        if (followerEndOffset < 0)
        {
            return FollowerAction.Truncate(Math.Min(leaderEndOffset, LogEndOffset));
        }
        if (followerEpoch != leaderEpoch)
        {
            // We never had the leader's epoch: cut to the end of our largest epoch below it, then ask again (KIP-279).
            return FollowerAction.Truncate(Math.Min(followerEndOffset, LogEndOffset));
        }
        return FollowerAction.Truncate(Math.Min(Math.Min(leaderEndOffset, followerEndOffset), LogEndOffset));
    }
}

/// <summary>What a follower puts in its Fetch for one partition.</summary>
public readonly record struct FetchPosition(long FetchOffset, int LastFetchedEpoch, int CurrentLeaderEpoch);

/// <summary>The leader's answer for one partition, as the follower sees it.</summary>
public sealed record FetchAnswer(
    ReplicationError Error,
    long HighWatermark,
    long LeaderLogStartOffset,
    long LeaderLogEndOffset,
    (int Epoch, long EndOffset)? DivergingEpoch,
    long RecordsBaseOffset);

public enum FollowerActionKind { Append, Truncate, RestartAt, Backoff }

/// <summary>What the caller must do next with the local log.</summary>
public readonly record struct FollowerAction(FollowerActionKind Kind, long Offset, ReplicationError Error)
{
    /// <summary>Append the fetched records (if any); <see cref="Offset"/> carries the leader's high watermark.</summary>
    public static FollowerAction Append(long leaderHighWatermark) => new(FollowerActionKind.Append, leaderHighWatermark, ReplicationError.None);

    /// <summary>Truncate the log to <see cref="Offset"/>, then fetch again.</summary>
    public static FollowerAction Truncate(long offset) => new(FollowerActionKind.Truncate, offset, ReplicationError.None);

    /// <summary>Delete the log and restart it empty at <see cref="Offset"/>.</summary>
    public static FollowerAction RestartAt(long offset) => new(FollowerActionKind.RestartAt, offset, ReplicationError.None);

    public static FollowerAction Backoff(ReplicationError error) => new(FollowerActionKind.Backoff, -1, error);
}
