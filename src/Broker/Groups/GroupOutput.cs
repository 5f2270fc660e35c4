namespace Kraft.Broker.Groups;

/// <summary>A response to a request that was answered "pending" earlier, identified by the caller's request token.</summary>
public readonly record struct Completion<T>(long RequestToken, T Response);

/// <summary>
/// Everything a coordinator call asks the driver to do, in the etcd-raft "ready" style: responses to
/// earlier pending requests that are now decided, and records to append to the group's
/// __consumer_offsets partition (in order). Records describe state the coordinator has already
/// applied in memory, except offset commits, which become visible only through
/// <see cref="GroupCoordinatorState.CompleteOffsetCommit"/>.
/// </summary>
public sealed class GroupOutput
{
    public List<Completion<JoinGroupResponse>> JoinCompletions { get; } = [];
    public List<Completion<SyncGroupResponse>> SyncCompletions { get; } = [];
    public List<Completion<OffsetCommitResponse>> OffsetCommitCompletions { get; } = [];
    public List<GroupRecord> Records { get; } = [];

    public bool IsEmpty => JoinCompletions.Count == 0 && SyncCompletions.Count == 0 && OffsetCommitCompletions.Count == 0 && Records.Count == 0;
}

/// <summary>
/// The result of one request: either an immediate response (<see cref="IsPending"/> false) or
/// "pending" (the response will appear later in some call's <see cref="GroupOutput"/> under the same
/// request token), plus the output the call produced for other waiting requests.
/// </summary>
public sealed class GroupResult<T>
{
    private GroupResult(bool isPending, T response, GroupOutput output)
    {
        IsPending = isPending;
        Response = response;
        Output = output;
    }

    public bool IsPending { get; }

    /// <summary>The immediate response; meaningless (default) when <see cref="IsPending"/>.</summary>
    public T Response { get; }

    public GroupOutput Output { get; }

    public static GroupResult<T> Immediate(T response, GroupOutput output) => new(false, response, output);

    public static GroupResult<T> Pending(GroupOutput output) => new(true, default!, output);
}
