namespace Kraft.Quorum.Raft;

/// <summary>
/// Static configuration of one Raft core. Names follow Kafka's <c>controller.quorum.*</c>
/// properties and keep their defaults; the simulator and unit tests use shorter timeouts.
/// </summary>
public sealed record RaftOptions
{
    /// <summary>This node's <c>node.id</c>.</summary>
    public required NodeId NodeId { get; init; }

    /// <summary>The voter ids from <c>controller.quorum.voters</c>. A node not listed is an observer.</summary>
    public required IReadOnlyCollection<NodeId> Voters { get; init; }

    /// <summary><c>controller.quorum.election.timeout.ms</c>: base election timeout; a random jitter in [0, this) is added.</summary>
    public int ElectionTimeoutMs { get; init; } = 1000;

    /// <summary><c>controller.quorum.fetch.timeout.ms</c>: a follower without a successful fetch this long stands for election; the leader's check-quorum uses 1.5 times this.</summary>
    public int FetchTimeoutMs { get; init; } = 2000;

    /// <summary><c>controller.quorum.election.backoff.max.ms</c>: the maximum random back-off after a lost election.</summary>
    public int ElectionBackoffMaxMs { get; init; } = 1000;

    /// <summary><c>controller.quorum.request.timeout.ms</c>: a request without a response this long is sent again.</summary>
    public int RequestTimeoutMs { get; init; } = 2000;

    /// <summary><c>controller.quorum.retry.backoff.ms</c>: the pause before retrying after an error response.</summary>
    public int RetryBackoffMs { get; init; } = 20;

    /// <summary>How long the leader parks a Fetch that has nothing new (Kafka's KafkaRaftClient uses 500 ms).</summary>
    public int FetchMaxWaitMs { get; init; } = 500;

    /// <summary>The most entries one FetchResponse carries (bounds memory per response).</summary>
    public int FetchMaxEntries { get; init; } = 1000;

    /// <summary>The most snapshot bytes one FetchSnapshotResponse carries.</summary>
    public int SnapshotChunkBytes { get; init; } = 1 << 20;

    /// <summary>The leader refuses proposals while this many entries are not yet committed (back-pressure).</summary>
    public int MaxUncommittedEntries { get; init; } = 100_000;

    /// <summary>The leader tracks at most this many observers; further ones are not recorded for DescribeQuorum.</summary>
    public int MaxTrackedObservers { get; init; } = 1024;

    /// <summary>
    /// TEST ONLY. Grants votes without the log-up-to-date check (Raft thesis 3.6.1), which lets a
    /// leader be elected without every committed entry. Exists so the simulator can prove it finds
    /// the resulting loss of committed entries.
    /// </summary>
    internal bool UnsafeSkipLogUpToDateCheck { get; init; }

    /// <summary>
    /// TEST ONLY. Lets the leader advance the high watermark over entries of older epochs before an
    /// entry of its own epoch is replicated to a majority (Raft thesis 3.6.2, "Figure 8").
    /// </summary>
    internal bool UnsafeSkipOwnEpochCommitRule { get; init; }

    /// <summary>Checks that the options make sense; throws <see cref="ArgumentException"/> otherwise.</summary>
    public void Validate()
    {
        if (Voters.Count == 0) throw new ArgumentException("controller.quorum.voters must list at least one voter");
        if (Voters.Distinct().Count() != Voters.Count) throw new ArgumentException("controller.quorum.voters lists a node twice");
        if (ElectionTimeoutMs <= 0 || FetchTimeoutMs <= 0 || ElectionBackoffMaxMs <= 0 || RequestTimeoutMs <= 0 || RetryBackoffMs <= 0 || FetchMaxWaitMs <= 0)
            throw new ArgumentException("timeouts must be positive");
        if (RequestTimeoutMs <= FetchMaxWaitMs) throw new ArgumentException("the request timeout must exceed the fetch wait, or every parked fetch is re-sent");
        if (FetchMaxEntries <= 0 || SnapshotChunkBytes <= 0 || MaxUncommittedEntries <= 0 || MaxTrackedObservers < 0)
            throw new ArgumentException("bounds must be positive");
    }
}
