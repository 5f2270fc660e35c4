namespace Kraft.Broker.Groups;

/// <summary>
/// The classic group coordinator for the groups of ONE __consumer_offsets partition, as a pure state
/// machine: requests and time (nowMs) go in, responses and records come out; no clocks, timers,
/// threads or I/O. Semantics follow Kafka's GroupCoordinator/GroupMetadata (KIP-62 rebalance timeout,
/// KIP-134 initial rebalance delay, KIP-211 offset retention, KIP-345 static membership, KIP-389
/// group.max.size, KIP-394 member id required, KIP-447 stable offset fetch).
///
/// JoinGroup and SyncGroup may be answered later (when other members arrive, the leader syncs or a
/// timeout fires): the call then returns "pending" and the response appears in the
/// <see cref="GroupOutput"/> of a later call (any call, including <see cref="Tick"/>) under the
/// caller-chosen request token. The driver must call <see cref="Tick"/> at <see cref="NextDeadlineMs"/>
/// (or periodically) so timeouts fire.
///
/// Persistence: the output's records go to the offsets partition in order. Group metadata records
/// describe a state already applied in memory (as Kafka answers SyncGroup after its append, a driver
/// that wants the same strictness holds the sync responses until the records are committed).
/// Offset commits are visible only after <see cref="CompleteOffsetCommit"/> reports their records
/// replicated. <see cref="Load"/> rebuilds the state from the partition's log on coordinator failover.
///
/// Caller's duties (codes defined in <see cref="GroupErrorCode"/>): NOT_COORDINATOR when this broker
/// does not lead the group's partition (<see cref="GroupPartitioner"/>), COORDINATOR_LOAD_IN_PROGRESS
/// while <see cref="Load"/> has not finished. Owned by one thread (the coordinator's event loop).
/// </summary>
public sealed class GroupCoordinatorState
{
    private readonly GroupConfig _config;
    private readonly Func<Guid> _newGuid;
    private readonly Dictionary<string, ConsumerGroup> _groups = new(StringComparer.Ordinal);
    private readonly Dictionary<long, PendingCommit> _pendingCommits = [];
    private long _nextRetentionCheckMs;

    /// <param name="config">The broker's group configs.</param>
    /// <param name="newGuid">Source of member-id suffixes (Kafka uses a random UUID); injected so simulations are deterministic.</param>
    public GroupCoordinatorState(GroupConfig config, Func<Guid>? newGuid = null)
    {
        _config = config;
        _newGuid = newGuid ?? Guid.NewGuid;
    }

    public GroupConfig Config => _config;

    public IEnumerable<string> GroupIds => _groups.Keys;

    // ------------------------------------------------------------------ JoinGroup

    public GroupResult<JoinGroupResponse> Join(JoinGroupRequest request, long requestToken, long nowMs)
    {
        var output = new GroupOutput();
        var response = DoJoin(request, requestToken, nowMs, output);
        if (_groups.TryGetValue(request.GroupId, out var group)) AfterOperation(group, nowMs, output);
        return response is null ? GroupResult<JoinGroupResponse>.Pending(output) : GroupResult<JoinGroupResponse>.Immediate(response, output);
    }

    private JoinGroupResponse? DoJoin(JoinGroupRequest request, long token, long nowMs, GroupOutput output)
    {
        if (string.IsNullOrEmpty(request.GroupId)) return JoinGroupResponse.Error(GroupErrorCode.INVALID_GROUP_ID, request.MemberId);
        if (request.SessionTimeoutMs < _config.GroupMinSessionTimeoutMs || request.SessionTimeoutMs > _config.GroupMaxSessionTimeoutMs)
        {
            return JoinGroupResponse.Error(GroupErrorCode.INVALID_SESSION_TIMEOUT, request.MemberId);
        }
        bool unknownMember = request.MemberId.Length == 0;
        if (!_groups.TryGetValue(request.GroupId, out var group))
        {
            // A known member id for a group we do not have: the group expired or moved; make the member start over.
            if (!unknownMember) return JoinGroupResponse.Error(GroupErrorCode.UNKNOWN_MEMBER_ID, request.MemberId);
            group = new ConsumerGroup(request.GroupId, nowMs);
            _groups.Add(request.GroupId, group);
        }
        if (group.State == GroupState.Dead) return JoinGroupResponse.Error(GroupErrorCode.COORDINATOR_NOT_AVAILABLE, request.MemberId);

        string? existingId = unknownMember ? null : request.MemberId;
        if (request.GroupInstanceId is not null && group.StaticMembers.TryGetValue(request.GroupInstanceId, out var current)) existingId ??= current;
        if (!group.SupportsProtocols(request.ProtocolType, request.Protocols, existingId))
        {
            return JoinGroupResponse.Error(GroupErrorCode.INCONSISTENT_GROUP_PROTOCOL, request.MemberId);
        }

        return unknownMember ? JoinUnknownMember(group, request, token, nowMs, output) : JoinKnownMember(group, request, token, nowMs, output);
    }

    private JoinGroupResponse? JoinUnknownMember(ConsumerGroup group, JoinGroupRequest request, long token, long nowMs, GroupOutput output)
    {
        string instancePrefix = request.GroupInstanceId ?? request.ClientId;
        string newMemberId = instancePrefix + "-" + _newGuid().ToString("D");

        if (request.GroupInstanceId is not null && group.StaticMembers.TryGetValue(request.GroupInstanceId, out var oldMemberId))
        {
            return ReplaceStaticMember(group, request, oldMemberId, newMemberId, token, nowMs, output);
        }
        if (group.Members.Count + group.PendingMembers.Count >= _config.GroupMaxSize)
        {
            return JoinGroupResponse.Error(GroupErrorCode.GROUP_MAX_SIZE_REACHED, "");
        }
        // KIP-394: a dynamic member first gets its id and must come back with it, so that a client
        // whose JoinGroup times out and retries does not leave an orphan member behind.
        if (request.ApiVersion >= 4 && request.GroupInstanceId is null)
        {
            group.PendingMembers[newMemberId] = nowMs + request.SessionTimeoutMs;
            return JoinGroupResponse.Error(GroupErrorCode.MEMBER_ID_REQUIRED, newMemberId);
        }
        AddMemberAndRebalance(group, request, newMemberId, token, nowMs, output);
        return null;
    }

    private JoinGroupResponse? JoinKnownMember(ConsumerGroup group, JoinGroupRequest request, long token, long nowMs, GroupOutput output)
    {
        if (group.PendingMembers.Remove(request.MemberId))
        {
            AddMemberAndRebalance(group, request, request.MemberId, token, nowMs, output);
            return null;
        }
        var error = ValidateMember(group, request.MemberId, request.GroupInstanceId);
        if (error != GroupErrorCode.NONE) return JoinGroupResponse.Error(error, request.MemberId);
        var member = group.Members[request.MemberId];
        switch (group.State)
        {
            case GroupState.PreparingRebalance:
                UpdateMemberAndRebalance(group, member, request, token, nowMs, output);
                return null;
            case GroupState.CompletingRebalance:
                if (member.ProtocolsMatch(request.Protocols))
                {
                    // The member missed our JoinGroup response (e.g. it timed out); send it again.
                    member.HeartbeatDeadlineMs = nowMs + member.SessionTimeoutMs;
                    return JoinResponseFor(group, member);
                }
                UpdateMemberAndRebalance(group, member, request, token, nowMs, output);
                return null;
            case GroupState.Stable:
                if (group.LeaderId == member.MemberId || !member.ProtocolsMatch(request.Protocols))
                {
                    // The leader rejoining, or a member whose subscription changed, asks for a new assignment.
                    UpdateMemberAndRebalance(group, member, request, token, nowMs, output);
                    return null;
                }
                member.HeartbeatDeadlineMs = nowMs + member.SessionTimeoutMs;
                return JoinResponseFor(group, member, includeMembers: false);
            default:
                return JoinGroupResponse.Error(GroupErrorCode.UNKNOWN_MEMBER_ID, request.MemberId);
        }
    }

    private JoinGroupResponse? ReplaceStaticMember(ConsumerGroup group, JoinGroupRequest request, string oldMemberId, string newMemberId, long token, long nowMs, GroupOutput output)
    {
        var old = group.Members[oldMemberId];
        // The old incarnation's waiting requests can never succeed: KIP-345 fences them.
        if (old.AwaitingJoinToken is long oldJoin) output.JoinCompletions.Add(new(oldJoin, JoinGroupResponse.Error(GroupErrorCode.FENCED_INSTANCE_ID, oldMemberId)));
        if (old.AwaitingSyncToken is long oldSync) output.SyncCompletions.Add(new(oldSync, SyncGroupResponse.Error(GroupErrorCode.FENCED_INSTANCE_ID)));
        bool protocolsUnchanged = old.ProtocolsMatch(request.Protocols);
        var replacement = new GroupMember
        {
            MemberId = newMemberId,
            GroupInstanceId = old.GroupInstanceId,
            ClientId = request.ClientId,
            ClientHost = request.ClientHost,
            SessionTimeoutMs = request.SessionTimeoutMs,
            RebalanceTimeoutMs = request.RebalanceTimeoutMs,
            Protocols = old.Protocols,
            Assignment = old.Assignment,
            AssignmentGeneration = old.AssignmentGeneration,
            HeartbeatDeadlineMs = nowMs + request.SessionTimeoutMs,
        };
        bool wasLeader = group.LeaderId == oldMemberId;
        group.Members.Remove(oldMemberId);
        group.Members.Add(newMemberId, replacement);
        group.StaticMembers[old.GroupInstanceId!] = newMemberId;
        if (wasLeader) group.LeaderId = newMemberId;
        if (group.PendingSyncMembers.Remove(oldMemberId)) group.PendingSyncMembers.Add(newMemberId);

        if (group.State == GroupState.Stable && !wasLeader && protocolsUnchanged)
        {
            // KIP-345's point: a bounced static member takes its old place without a rebalance. The
            // new member id is persisted so a failover does not resurrect the fenced one.
            output.Records.Add(new GroupMetadataRecord(group.GroupId, group.ToRecordValue()));
            return JoinResponseFor(group, replacement, includeMembers: false);
        }
        UpdateMemberAndRebalance(group, replacement, request, token, nowMs, output);
        return null;
    }

    private void AddMemberAndRebalance(ConsumerGroup group, JoinGroupRequest request, string memberId, long token, long nowMs, GroupOutput output)
    {
        var member = new GroupMember
        {
            MemberId = memberId,
            GroupInstanceId = request.GroupInstanceId,
            ClientId = request.ClientId,
            ClientHost = request.ClientHost,
            SessionTimeoutMs = request.SessionTimeoutMs,
            RebalanceTimeoutMs = request.RebalanceTimeoutMs,
            Protocols = request.Protocols,
            AwaitingJoinToken = token,
            HeartbeatDeadlineMs = nowMs + request.SessionTimeoutMs,
        };
        // KIP-134: while the first rebalance is held back, each newcomer buys the group more time.
        if (group.State == GroupState.PreparingRebalance && group.GenerationId == 0) group.NewMemberAdded = true;
        if (group.Members.Count == 0) group.ProtocolType = request.ProtocolType;
        group.Members.Add(memberId, member);
        if (request.GroupInstanceId is not null) group.StaticMembers[request.GroupInstanceId] = memberId;
        group.LeaderId ??= memberId;
        MaybePrepareRebalance(group, nowMs, output);
    }

    private void UpdateMemberAndRebalance(ConsumerGroup group, GroupMember member, JoinGroupRequest request, long token, long nowMs, GroupOutput output)
    {
        member.Protocols = request.Protocols;
        if (group.Members.Count == 1) group.ProtocolType = request.ProtocolType; // a lone member may switch protocol type
        member.SessionTimeoutMs = request.SessionTimeoutMs;
        member.RebalanceTimeoutMs = request.RebalanceTimeoutMs;
        member.ClientId = request.ClientId;
        member.ClientHost = request.ClientHost;
        // A retried JoinGroup replaces the earlier one; answer the earlier one so no request is left hanging.
        if (member.AwaitingJoinToken is long earlier && earlier != token)
        {
            output.JoinCompletions.Add(new(earlier, JoinGroupResponse.Error(GroupErrorCode.REBALANCE_IN_PROGRESS, member.MemberId)));
        }
        member.AwaitingJoinToken = token;
        MaybePrepareRebalance(group, nowMs, output);
    }

    private void MaybePrepareRebalance(ConsumerGroup group, long nowMs, GroupOutput output)
    {
        if (group.State is GroupState.Stable or GroupState.CompletingRebalance or GroupState.Empty) PrepareRebalance(group, nowMs, output);
    }

    private void PrepareRebalance(ConsumerGroup group, long nowMs, GroupOutput output)
    {
        if (group.State == GroupState.CompletingRebalance)
        {
            // The assignment being computed is for a membership that no longer holds.
            foreach (var m in group.Members.Values)
            {
                m.Assignment = [];
                m.AssignmentGeneration = -1;
                if (m.AwaitingSyncToken is long sync)
                {
                    output.SyncCompletions.Add(new(sync, SyncGroupResponse.Error(GroupErrorCode.REBALANCE_IN_PROGRESS)));
                    m.AwaitingSyncToken = null;
                    // Its session did not run while it waited; it starts again with the answer (Kafka's propagateAssignment).
                    m.HeartbeatDeadlineMs = nowMs + m.SessionTimeoutMs;
                }
            }
        }
        group.PendingSyncMembers.Clear();
        group.PendingSyncDeadlineMs = null;
        int rebalanceTimeoutMs = group.RebalanceTimeoutMs;
        if (group.State == GroupState.Empty)
        {
            int delay = _config.GroupInitialRebalanceDelayMs;
            group.InitialDelayActive = true;
            group.NewMemberAdded = false;
            group.InitialDelayRemainingMs = Math.Max(rebalanceTimeoutMs - delay, 0);
            group.JoinDeadlineMs = nowMs + delay;
        }
        else
        {
            group.InitialDelayActive = false;
            group.JoinDeadlineMs = nowMs + rebalanceTimeoutMs;
        }
        group.TransitionTo(GroupState.PreparingRebalance, nowMs);
    }

    /// <summary>DelayedJoin / InitialDelayedJoin: complete the join phase when everyone is in, or at the deadline.</summary>
    private void TryCompleteJoin(ConsumerGroup group, long nowMs, GroupOutput output)
    {
        if (group.State != GroupState.PreparingRebalance) return;
        if (group.InitialDelayActive)
        {
            if (nowMs < group.JoinDeadlineMs!.Value) return;
            if (group.NewMemberAdded && group.InitialDelayRemainingMs > 0)
            {
                // InitialDelayedJoin: members arrived during the delay, so wait another delay (bounded by the rebalance timeout).
                int delay = _config.GroupInitialRebalanceDelayMs;
                group.NewMemberAdded = false;
                long next = Math.Min(delay, group.InitialDelayRemainingMs);
                group.InitialDelayRemainingMs = Math.Max(group.InitialDelayRemainingMs - delay, 0);
                group.JoinDeadlineMs = nowMs + next;
                return;
            }
        }
        else if (!group.HasAllMembersJoined && nowMs < group.JoinDeadlineMs!.Value)
        {
            return;
        }
        CompleteJoin(group, nowMs, output);
    }

    private void CompleteJoin(ConsumerGroup group, long nowMs, GroupOutput output)
    {
        // Members that did not rejoin in time are out (static ones too: KIP-345 relies on the session timeout only between rebalances).
        foreach (var m in group.Members.Values.Where(m => m.AwaitingJoinToken is null).ToList()) RemoveMember(group, m, GroupErrorCode.UNKNOWN_MEMBER_ID, output);
        group.JoinDeadlineMs = null;
        group.InitialDelayActive = false;
        group.NewMemberAdded = false;
        group.GenerationId++;
        if (group.Members.Count == 0)
        {
            group.ProtocolName = null;
            group.LeaderId = null;
            group.TransitionTo(GroupState.Empty, nowMs);
            output.Records.Add(new GroupMetadataRecord(group.GroupId, group.ToRecordValue()));
            return;
        }
        if (group.LeaderId is null || !group.Members.ContainsKey(group.LeaderId)) group.LeaderId = group.Members.Keys.First();
        group.ProtocolName = group.SelectProtocol();
        group.TransitionTo(GroupState.CompletingRebalance, nowMs);
        foreach (var m in group.Members.Values)
        {
            long token = m.AwaitingJoinToken!.Value;
            m.AwaitingJoinToken = null;
            m.HeartbeatDeadlineMs = nowMs + m.SessionTimeoutMs;
            output.JoinCompletions.Add(new(token, JoinResponseFor(group, m)));
            group.PendingSyncMembers.Add(m.MemberId);
        }
        // Kafka's DelayedSync: members that never send SyncGroup are removed after the rebalance timeout.
        group.PendingSyncDeadlineMs = nowMs + group.RebalanceTimeoutMs;
    }

    private static JoinGroupResponse JoinResponseFor(ConsumerGroup group, GroupMember member, bool includeMembers = true)
    {
        IReadOnlyList<JoinGroupResponseMember> members = includeMembers && group.LeaderId == member.MemberId
            ? group.Members.Values.Select(m => new JoinGroupResponseMember(m.MemberId, m.GroupInstanceId, m.MetadataFor(group.ProtocolName))).ToList()
            : [];
        return new JoinGroupResponse(GroupErrorCode.NONE, group.GenerationId, group.ProtocolType, group.ProtocolName, group.LeaderId ?? "", member.MemberId, members);
    }

    private static GroupErrorCode ValidateMember(ConsumerGroup group, string memberId, string? groupInstanceId)
    {
        if (groupInstanceId is not null && group.StaticMembers.TryGetValue(groupInstanceId, out var current) && current != memberId)
        {
            return GroupErrorCode.FENCED_INSTANCE_ID;
        }
        return group.Members.ContainsKey(memberId) ? GroupErrorCode.NONE : GroupErrorCode.UNKNOWN_MEMBER_ID;
    }

    /// <summary>Removes a member, answering its waiting requests with <paramref name="error"/>; the caller handles the state change.</summary>
    private static void RemoveMember(ConsumerGroup group, GroupMember member, GroupErrorCode error, GroupOutput output)
    {
        if (member.AwaitingJoinToken is long join) output.JoinCompletions.Add(new(join, JoinGroupResponse.Error(error, member.MemberId)));
        if (member.AwaitingSyncToken is long sync) output.SyncCompletions.Add(new(sync, SyncGroupResponse.Error(error)));
        member.AwaitingJoinToken = null;
        member.AwaitingSyncToken = null;
        group.Members.Remove(member.MemberId);
        group.PendingSyncMembers.Remove(member.MemberId);
        if (member.GroupInstanceId is not null) group.StaticMembers.Remove(member.GroupInstanceId);
        if (group.LeaderId == member.MemberId)
        {
            group.LeaderId = group.Members.Values.FirstOrDefault(m => m.AwaitingJoinToken is not null)?.MemberId ?? group.Members.Keys.FirstOrDefault();
        }
    }

    /// <summary>Kafka's removeMemberAndUpdateGroup: a member that left or expired forces a new generation.</summary>
    private void RemoveMemberAndUpdateGroup(ConsumerGroup group, GroupMember member, long nowMs, GroupOutput output)
    {
        RemoveMember(group, member, GroupErrorCode.UNKNOWN_MEMBER_ID, output);
        if (group.State is GroupState.Stable or GroupState.CompletingRebalance) PrepareRebalance(group, nowMs, output);
    }

    // ------------------------------------------------------------------ SyncGroup

    public GroupResult<SyncGroupResponse> Sync(SyncGroupRequest request, long requestToken, long nowMs)
    {
        var output = new GroupOutput();
        var response = DoSync(request, requestToken, nowMs, output);
        if (_groups.TryGetValue(request.GroupId, out var group)) AfterOperation(group, nowMs, output);
        return response is null ? GroupResult<SyncGroupResponse>.Pending(output) : GroupResult<SyncGroupResponse>.Immediate(response, output);
    }

    private SyncGroupResponse? DoSync(SyncGroupRequest request, long token, long nowMs, GroupOutput output)
    {
        if (string.IsNullOrEmpty(request.GroupId)) return SyncGroupResponse.Error(GroupErrorCode.INVALID_GROUP_ID);
        if (!_groups.TryGetValue(request.GroupId, out var group)) return SyncGroupResponse.Error(GroupErrorCode.UNKNOWN_MEMBER_ID);
        if (group.State == GroupState.Dead) return SyncGroupResponse.Error(GroupErrorCode.COORDINATOR_NOT_AVAILABLE);
        var error = ValidateMember(group, request.MemberId, request.GroupInstanceId);
        if (error != GroupErrorCode.NONE) return SyncGroupResponse.Error(error);
        if (request.GenerationId != group.GenerationId) return SyncGroupResponse.Error(GroupErrorCode.ILLEGAL_GENERATION);
        if ((request.ProtocolType is not null && request.ProtocolType != group.ProtocolType) ||
            (request.ProtocolName is not null && request.ProtocolName != group.ProtocolName))
        {
            return SyncGroupResponse.Error(GroupErrorCode.INCONSISTENT_GROUP_PROTOCOL);
        }
        var member = group.Members[request.MemberId];
        switch (group.State)
        {
            case GroupState.Empty:
                return SyncGroupResponse.Error(GroupErrorCode.UNKNOWN_MEMBER_ID);
            case GroupState.PreparingRebalance:
                return SyncGroupResponse.Error(GroupErrorCode.REBALANCE_IN_PROGRESS);
            case GroupState.CompletingRebalance:
                if (group.PendingSyncMembers.Remove(member.MemberId) && group.PendingSyncMembers.Count == 0) group.PendingSyncDeadlineMs = null;
                member.HeartbeatDeadlineMs = nowMs + member.SessionTimeoutMs;
                if (member.AwaitingSyncToken is long earlier && earlier != token)
                {
                    output.SyncCompletions.Add(new(earlier, SyncGroupResponse.Error(GroupErrorCode.REBALANCE_IN_PROGRESS)));
                }
                member.AwaitingSyncToken = token;
                if (group.LeaderId != member.MemberId) return null; // followers wait for the leader's assignment
                var assignments = new Dictionary<string, byte[]>(StringComparer.Ordinal);
                foreach (var a in request.Assignments) assignments[a.MemberId] = a.Assignment;
                foreach (var m in group.Members.Values)
                {
                    m.Assignment = assignments.TryGetValue(m.MemberId, out var bytes) ? bytes : [];
                    m.AssignmentGeneration = group.GenerationId;
                }
                group.TransitionTo(GroupState.Stable, nowMs);
                output.Records.Add(new GroupMetadataRecord(group.GroupId, group.ToRecordValue()));
                SyncGroupResponse? own = null;
                foreach (var m in group.Members.Values)
                {
                    if (m.AwaitingSyncToken is not long waiting) continue;
                    m.AwaitingSyncToken = null;
                    m.HeartbeatDeadlineMs = nowMs + m.SessionTimeoutMs;
                    var response = new SyncGroupResponse(GroupErrorCode.NONE, group.ProtocolType, group.ProtocolName, m.Assignment);
                    if (m == member) own = response;
                    else output.SyncCompletions.Add(new(waiting, response));
                }
                return own;
            case GroupState.Stable:
                if (group.PendingSyncMembers.Remove(member.MemberId) && group.PendingSyncMembers.Count == 0) group.PendingSyncDeadlineMs = null;
                member.HeartbeatDeadlineMs = nowMs + member.SessionTimeoutMs;
                return new SyncGroupResponse(GroupErrorCode.NONE, group.ProtocolType, group.ProtocolName, member.Assignment);
            default:
                return SyncGroupResponse.Error(GroupErrorCode.COORDINATOR_NOT_AVAILABLE);
        }
    }

    // ------------------------------------------------------------------ Heartbeat and LeaveGroup

    public GroupResult<GroupErrorCode> Heartbeat(HeartbeatRequest request, long nowMs)
    {
        var output = new GroupOutput();
        var error = DoHeartbeat(request, nowMs);
        if (_groups.TryGetValue(request.GroupId, out var group)) AfterOperation(group, nowMs, output);
        return GroupResult<GroupErrorCode>.Immediate(error, output);
    }

    private GroupErrorCode DoHeartbeat(HeartbeatRequest request, long nowMs)
    {
        if (string.IsNullOrEmpty(request.GroupId)) return GroupErrorCode.INVALID_GROUP_ID;
        if (!_groups.TryGetValue(request.GroupId, out var group)) return GroupErrorCode.UNKNOWN_MEMBER_ID;
        if (group.State == GroupState.Dead) return GroupErrorCode.COORDINATOR_NOT_AVAILABLE;
        var error = ValidateMember(group, request.MemberId, request.GroupInstanceId);
        if (error != GroupErrorCode.NONE) return error;
        if (request.GenerationId != group.GenerationId) return GroupErrorCode.ILLEGAL_GENERATION;
        var member = group.Members[request.MemberId];
        member.HeartbeatDeadlineMs = nowMs + member.SessionTimeoutMs;
        return group.State switch
        {
            GroupState.PreparingRebalance => GroupErrorCode.REBALANCE_IN_PROGRESS,
            GroupState.CompletingRebalance or GroupState.Stable => GroupErrorCode.NONE,
            _ => GroupErrorCode.UNKNOWN_MEMBER_ID,
        };
    }

    public GroupResult<LeaveGroupResponse> Leave(LeaveGroupRequest request, long nowMs)
    {
        var output = new GroupOutput();
        if (string.IsNullOrEmpty(request.GroupId)) return GroupResult<LeaveGroupResponse>.Immediate(new(GroupErrorCode.INVALID_GROUP_ID, []), output);
        if (!_groups.TryGetValue(request.GroupId, out var group))
        {
            var unknown = request.Members.Select(m => new LeaveGroupMemberResponse(m.MemberId, m.GroupInstanceId, GroupErrorCode.UNKNOWN_MEMBER_ID)).ToList();
            return GroupResult<LeaveGroupResponse>.Immediate(new(GroupErrorCode.NONE, unknown), output);
        }
        if (group.State == GroupState.Dead) return GroupResult<LeaveGroupResponse>.Immediate(new(GroupErrorCode.COORDINATOR_NOT_AVAILABLE, []), output);
        var results = new List<LeaveGroupMemberResponse>(request.Members.Count);
        foreach (var leaving in request.Members)
        {
            string memberId = leaving.MemberId;
            GroupErrorCode error = GroupErrorCode.NONE;
            if (leaving.GroupInstanceId is not null)
            {
                // KIP-345 admin removal names only the instance id; a member id that is given must be the current one.
                if (!group.StaticMembers.TryGetValue(leaving.GroupInstanceId, out var current)) error = GroupErrorCode.UNKNOWN_MEMBER_ID;
                else if (memberId.Length == 0) memberId = current;
                else if (memberId != current) error = GroupErrorCode.FENCED_INSTANCE_ID;
            }
            if (error == GroupErrorCode.NONE)
            {
                if (group.PendingMembers.Remove(memberId)) { /* a KIP-394 pending member simply goes away */ }
                else if (group.Members.TryGetValue(memberId, out var member)) RemoveMemberAndUpdateGroup(group, member, nowMs, output);
                else error = GroupErrorCode.UNKNOWN_MEMBER_ID;
            }
            results.Add(new LeaveGroupMemberResponse(memberId, leaving.GroupInstanceId, error));
        }
        AfterOperation(group, nowMs, output);
        return GroupResult<LeaveGroupResponse>.Immediate(new(GroupErrorCode.NONE, results), output);
    }

    // ------------------------------------------------------------------ Offsets

    private sealed record PendingCommit(string GroupId, List<(TopicPartition Partition, OffsetCommitValue Value)> Writes, List<OffsetCommitPartitionResponse> Responses);

    /// <summary>
    /// OffsetCommit. Valid partitions produce records and the response is pending until the driver
    /// calls <see cref="CompleteOffsetCommit"/> with the same token once those records are replicated
    /// (or failed); a commit that writes nothing is answered at once.
    /// </summary>
    public GroupResult<OffsetCommitResponse> CommitOffsets(OffsetCommitRequest request, long requestToken, long nowMs)
    {
        var output = new GroupOutput();
        ConsumerGroup.Assert(!_pendingCommits.ContainsKey(requestToken), $"request token {requestToken} is already waiting for an offset commit");
        GroupErrorCode groupError = ValidateCommit(request, nowMs);
        var responses = new List<OffsetCommitPartitionResponse>(request.Partitions.Count);
        var writes = new List<(TopicPartition, OffsetCommitValue)>();
        foreach (var p in request.Partitions)
        {
            var error = groupError;
            string metadata = p.Metadata ?? "";
            if (error == GroupErrorCode.NONE && System.Text.Encoding.UTF8.GetByteCount(metadata) > _config.OffsetMetadataMaxBytes) error = GroupErrorCode.OFFSET_METADATA_TOO_LARGE;
            responses.Add(new OffsetCommitPartitionResponse(p.Topic, p.Partition, error));
            if (error != GroupErrorCode.NONE) continue;
            var tp = new TopicPartition(p.Topic, p.Partition);
            var value = new OffsetCommitValue(p.CommittedOffset, p.CommittedLeaderEpoch, metadata, nowMs);
            writes.Add((tp, value));
            output.Records.Add(new OffsetCommitRecord(request.GroupId, p.Topic, p.Partition, value));
        }
        if (writes.Count == 0) return GroupResult<OffsetCommitResponse>.Immediate(new OffsetCommitResponse(responses), output);
        var group = _groups[request.GroupId];
        foreach (var (tp, _) in writes) group.PendingOffsetCommits[tp] = group.PendingOffsetCommits.GetValueOrDefault(tp) + 1;
        _pendingCommits.Add(requestToken, new PendingCommit(request.GroupId, writes, responses));
        return GroupResult<OffsetCommitResponse>.Pending(output);
    }

    private GroupErrorCode ValidateCommit(OffsetCommitRequest request, long nowMs)
    {
        if (!_groups.TryGetValue(request.GroupId, out var group))
        {
            // A group that only stores offsets here (no group management) is created by its first commit.
            if (request.GenerationId >= 0) return GroupErrorCode.ILLEGAL_GENERATION;
            _groups.Add(request.GroupId, new ConsumerGroup(request.GroupId, nowMs));
            return GroupErrorCode.NONE;
        }
        if (group.State == GroupState.Dead) return GroupErrorCode.COORDINATOR_NOT_AVAILABLE;
        if (request.GenerationId >= 0 || request.MemberId.Length > 0 || request.GroupInstanceId is not null)
        {
            var error = ValidateMember(group, request.MemberId, request.GroupInstanceId);
            if (error != GroupErrorCode.NONE) return error;
            if (request.GenerationId != group.GenerationId) return GroupErrorCode.ILLEGAL_GENERATION;
            // The member has a generation but not yet its assignment: committing now could move
            // partitions it is about to lose (Kafka answers REBALANCE_IN_PROGRESS here too).
            if (group.State == GroupState.CompletingRebalance) return GroupErrorCode.REBALANCE_IN_PROGRESS;
            return GroupErrorCode.NONE;
        }
        // A simple (non-member) commit must not race a live group's own commits.
        return group.State == GroupState.Empty ? GroupErrorCode.NONE : GroupErrorCode.UNKNOWN_MEMBER_ID;
    }

    /// <summary>
    /// Reports the fate of an offset commit's records: NONE once they are replicated (the offsets become
    /// visible and the response says NONE), or the append's error (the offsets are dropped and every
    /// written partition answers that error, e.g. NOT_COORDINATOR or REQUEST_TIMED_OUT).
    /// </summary>
    public GroupOutput CompleteOffsetCommit(long requestToken, GroupErrorCode appendError, long nowMs)
    {
        var output = new GroupOutput();
        if (!_pendingCommits.Remove(requestToken, out var pending)) return output;
        _groups.TryGetValue(pending.GroupId, out var group);
        foreach (var (tp, value) in pending.Writes)
        {
            if (group is null) continue;
            int count = group.PendingOffsetCommits[tp] - 1;
            if (count == 0) group.PendingOffsetCommits.Remove(tp);
            else group.PendingOffsetCommits[tp] = count;
            if (appendError == GroupErrorCode.NONE) group.Offsets[tp] = value;
        }
        var responses = pending.Responses
            .Select(r => r.ErrorCode == GroupErrorCode.NONE && appendError != GroupErrorCode.NONE ? r with { ErrorCode = appendError } : r)
            .ToList();
        output.OffsetCommitCompletions.Add(new(requestToken, new OffsetCommitResponse(responses)));
        if (group is not null) AfterOperation(group, nowMs, output);
        return output;
    }

    public OffsetFetchResponse FetchOffsets(OffsetFetchRequest request)
    {
        _groups.TryGetValue(request.GroupId, out var group);
        IEnumerable<TopicPartition> partitions = request.Partitions
            ?? (group is null ? [] : group.Offsets.Keys.OrderBy(tp => tp.Topic, StringComparer.Ordinal).ThenBy(tp => tp.Partition).ToList());
        var results = new List<OffsetFetchPartitionResponse>();
        foreach (var tp in partitions)
        {
            if (request.RequireStable && group is not null && group.PendingOffsetCommits.ContainsKey(tp))
            {
                results.Add(new OffsetFetchPartitionResponse(tp.Topic, tp.Partition, -1, -1, "", GroupErrorCode.UNSTABLE_OFFSET_COMMIT));
            }
            else if (group is not null && group.Offsets.TryGetValue(tp, out var v))
            {
                results.Add(new OffsetFetchPartitionResponse(tp.Topic, tp.Partition, v.Offset, v.LeaderEpoch, v.Metadata, GroupErrorCode.NONE));
            }
            else
            {
                results.Add(new OffsetFetchPartitionResponse(tp.Topic, tp.Partition, -1, -1, "", GroupErrorCode.NONE));
            }
        }
        return new OffsetFetchResponse(GroupErrorCode.NONE, results);
    }

    // ------------------------------------------------------------------ ListGroups, DescribeGroups, DeleteGroups

    /// <summary>ListGroups; <paramref name="statesFilter"/> (KIP-518) matches state names case-insensitively.</summary>
    public IReadOnlyList<ListedGroup> ListGroups(IReadOnlyCollection<string>? statesFilter = null)
    {
        var list = new List<ListedGroup>();
        foreach (var g in _groups.Values)
        {
            string state = g.State.ToString();
            if (statesFilter is { Count: > 0 } && !statesFilter.Contains(state, StringComparer.OrdinalIgnoreCase)) continue;
            list.Add(new ListedGroup(g.GroupId, g.ProtocolType ?? "", state));
        }
        return list;
    }

    public IReadOnlyList<DescribedGroup> DescribeGroups(IReadOnlyList<string> groupIds)
    {
        var list = new List<DescribedGroup>(groupIds.Count);
        foreach (var id in groupIds)
        {
            if (!_groups.TryGetValue(id, out var g))
            {
                list.Add(new DescribedGroup(GroupErrorCode.NONE, id, nameof(GroupState.Dead), "", "", []));
                continue;
            }
            bool stable = g.State == GroupState.Stable;
            var members = g.Members.Values.Select(m => new DescribedGroupMember(
                m.MemberId, m.GroupInstanceId, m.ClientId, m.ClientHost,
                stable ? m.MetadataFor(g.ProtocolName) : [], stable ? m.Assignment : [])).ToList();
            list.Add(new DescribedGroup(GroupErrorCode.NONE, id, g.State.ToString(), g.ProtocolType ?? "", stable ? g.ProtocolName ?? "" : "", members));
        }
        return list;
    }

    /// <summary>DeleteGroups for one group: only an Empty group can go; its offsets and metadata get tombstones.</summary>
    public GroupResult<GroupErrorCode> DeleteGroup(string groupId, long nowMs)
    {
        var output = new GroupOutput();
        if (!_groups.TryGetValue(groupId, out var group)) return GroupResult<GroupErrorCode>.Immediate(GroupErrorCode.GROUP_ID_NOT_FOUND, output);
        if (group.State != GroupState.Empty) return GroupResult<GroupErrorCode>.Immediate(GroupErrorCode.NON_EMPTY_GROUP, output);
        foreach (var tp in group.Offsets.Keys.ToList()) output.Records.Add(new OffsetCommitRecord(groupId, tp.Topic, tp.Partition, null));
        group.Offsets.Clear();
        RemoveGroup(group, nowMs, output);
        return GroupResult<GroupErrorCode>.Immediate(GroupErrorCode.NONE, output);
    }

    private void RemoveGroup(ConsumerGroup group, long nowMs, GroupOutput output)
    {
        group.TransitionTo(GroupState.Dead, nowMs);
        output.Records.Add(new GroupMetadataRecord(group.GroupId, null));
        _groups.Remove(group.GroupId);
    }

    // ------------------------------------------------------------------ Time

    /// <summary>
    /// Fires every timeout due at <paramref name="nowMs"/>: join phases that end, KIP-394 pending
    /// members and session timeouts that expire, members that never synced, and offset retention.
    /// </summary>
    public GroupOutput Tick(long nowMs)
    {
        var output = new GroupOutput();
        foreach (var group in _groups.Values.ToList())
        {
            foreach (var (id, deadline) in group.PendingMembers.ToList()) if (nowMs >= deadline) group.PendingMembers.Remove(id);
            foreach (var m in group.Members.Values.ToList())
            {
                // Members waiting in a join or sync phase are bounded by the rebalance timeout, not the session.
                if (m.AwaitingJoinToken is null && m.AwaitingSyncToken is null && nowMs >= m.HeartbeatDeadlineMs)
                {
                    RemoveMemberAndUpdateGroup(group, m, nowMs, output);
                }
            }
            if (group.PendingSyncDeadlineMs is long syncDeadline && nowMs >= syncDeadline && group.State is GroupState.CompletingRebalance or GroupState.Stable)
            {
                group.PendingSyncDeadlineMs = null;
                foreach (var id in group.PendingSyncMembers.ToList())
                {
                    if (group.Members.TryGetValue(id, out var m)) RemoveMemberAndUpdateGroup(group, m, nowMs, output);
                }
                group.PendingSyncMembers.Clear();
            }
            AfterOperation(group, nowMs, output);
        }
        if (nowMs >= _nextRetentionCheckMs)
        {
            _nextRetentionCheckMs = nowMs + _config.OffsetsRetentionCheckIntervalMs;
            ExpireOffsets(nowMs, output);
        }
        return output;
    }

    /// <summary>The earliest time at which <see cref="Tick"/> has something to do, including the next offset retention check.</summary>
    public long NextDeadlineMs
    {
        get
        {
            long? next = _groups.Count > 0 ? _nextRetentionCheckMs : null;
            void Consider(long t) => next = next is null ? t : Math.Min(next.Value, t);
            foreach (var g in _groups.Values)
            {
                if (g.JoinDeadlineMs is long j && g.State == GroupState.PreparingRebalance) Consider(j);
                if (g.PendingSyncDeadlineMs is long s) Consider(s);
                foreach (var d in g.PendingMembers.Values) Consider(d);
                foreach (var m in g.Members.Values) if (m.AwaitingJoinToken is null && m.AwaitingSyncToken is null) Consider(m.HeartbeatDeadlineMs);
            }
            return next ?? long.MaxValue;
        }
    }

    /// <summary>KIP-211 retention: an Empty group's offsets expire a retention period after it became empty; a simple group's per commit.</summary>
    private void ExpireOffsets(long nowMs, GroupOutput output)
    {
        long retentionMs = _config.OffsetsRetentionMs;
        foreach (var group in _groups.Values.ToList())
        {
            if (group.State != GroupState.Empty) continue;
            foreach (var (tp, value) in group.Offsets.ToList())
            {
                if (group.PendingOffsetCommits.ContainsKey(tp)) continue;
                long baseMs = group.ProtocolType is not null && group.CurrentStateTimestampMs is long stateMs ? stateMs : value.CommitTimestampMs;
                if (nowMs - baseMs < retentionMs) continue;
                group.Offsets.Remove(tp);
                output.Records.Add(new OffsetCommitRecord(group.GroupId, tp.Topic, tp.Partition, null));
            }
            if (group.Offsets.Count == 0 && group.PendingOffsetCommits.Count == 0 && group.PendingMembers.Count == 0) RemoveGroup(group, nowMs, output);
        }
    }

    private void AfterOperation(ConsumerGroup group, long nowMs, GroupOutput output)
    {
        TryCompleteJoin(group, nowMs, output);
        if (group.State != GroupState.Dead) group.CheckInvariants();
    }

    // ------------------------------------------------------------------ Failover

    /// <summary>
    /// Answers every waiting request with NOT_COORDINATOR: the broker lost leadership of this offsets
    /// partition, and the clients must find the new coordinator (which will <see cref="Load"/> the log).
    /// </summary>
    public GroupOutput Unload()
    {
        var output = new GroupOutput();
        foreach (var g in _groups.Values)
        {
            foreach (var m in g.Members.Values)
            {
                if (m.AwaitingJoinToken is long j) output.JoinCompletions.Add(new(j, JoinGroupResponse.Error(GroupErrorCode.NOT_COORDINATOR, m.MemberId)));
                if (m.AwaitingSyncToken is long s) output.SyncCompletions.Add(new(s, SyncGroupResponse.Error(GroupErrorCode.NOT_COORDINATOR)));
                m.AwaitingJoinToken = null;
                m.AwaitingSyncToken = null;
            }
        }
        foreach (var (token, pending) in _pendingCommits)
        {
            var responses = pending.Responses.Select(r => r.ErrorCode == GroupErrorCode.NONE ? r with { ErrorCode = GroupErrorCode.NOT_COORDINATOR } : r).ToList();
            output.OffsetCommitCompletions.Add(new(token, new OffsetCommitResponse(responses)));
        }
        _pendingCommits.Clear();
        _groups.Clear();
        return output;
    }

    /// <summary>Rebuilds a coordinator from its offsets partition, records in log order (latest per key wins, a null value deletes).</summary>
    public static GroupCoordinatorState LoadEncoded(IEnumerable<(byte[] Key, byte[]? Value)> records, GroupConfig config, long nowMs, Func<Guid>? newGuid = null) =>
        Load(records.Select(r => GroupRecordCodec.Decode(r.Key, r.Value)), config, nowMs, newGuid);

    /// <summary>
    /// Rebuilds a coordinator from its offsets partition's records in log order, as Kafka's
    /// GroupMetadataManager.loadGroupsAndOffsets does: the latest record per key wins and tombstones
    /// delete. A group with members comes back Stable at its stored generation with its assignments
    /// and fresh session deadlines; one without members comes back Empty; offsets without group
    /// metadata make a simple (Empty, no protocol type) group.
    /// </summary>
    public static GroupCoordinatorState Load(IEnumerable<GroupRecord> records, GroupConfig config, long nowMs, Func<Guid>? newGuid = null)
    {
        var offsets = new Dictionary<string, Dictionary<TopicPartition, OffsetCommitValue>>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, GroupMetadataValue>(StringComparer.Ordinal);
        foreach (var record in records)
        {
            switch (record)
            {
                case OffsetCommitRecord o:
                    var tp = new TopicPartition(o.Topic, o.Partition);
                    if (o.Value is null)
                    {
                        if (offsets.TryGetValue(o.GroupId, out var map)) map.Remove(tp);
                    }
                    else
                    {
                        if (!offsets.TryGetValue(o.GroupId, out var map2)) offsets[o.GroupId] = map2 = [];
                        map2[tp] = o.Value;
                    }
                    break;
                case GroupMetadataRecord g:
                    if (g.Value is null) metadata.Remove(g.GroupId);
                    else metadata[g.GroupId] = g.Value;
                    break;
            }
        }
        var state = new GroupCoordinatorState(config, newGuid);
        foreach (var (groupId, value) in metadata)
        {
            var group = new ConsumerGroup(groupId, nowMs)
            {
                GenerationId = value.Generation,
                ProtocolType = value.ProtocolType.Length == 0 && value.Members.Count == 0 ? null : value.ProtocolType,
                ProtocolName = value.Members.Count == 0 ? null : value.Protocol,
                LeaderId = value.Members.Count == 0 ? null : value.Leader,
            };
            foreach (var m in value.Members)
            {
                group.Members.Add(m.MemberId, new GroupMember
                {
                    MemberId = m.MemberId,
                    GroupInstanceId = m.GroupInstanceId,
                    ClientId = m.ClientId,
                    ClientHost = m.ClientHost,
                    SessionTimeoutMs = m.SessionTimeoutMs,
                    RebalanceTimeoutMs = m.RebalanceTimeoutMs,
                    Protocols = [new JoinGroupProtocol(value.Protocol ?? "", m.Subscription)],
                    Assignment = m.Assignment,
                    AssignmentGeneration = value.Generation,
                    HeartbeatDeadlineMs = nowMs + m.SessionTimeoutMs,
                });
                if (m.GroupInstanceId is not null) group.StaticMembers[m.GroupInstanceId] = m.MemberId;
            }
            group.RestoreState(value.Members.Count == 0 ? GroupState.Empty : GroupState.Stable, value.CurrentStateTimestampMs >= 0 ? value.CurrentStateTimestampMs : null);
            if (group.LeaderId is null || (group.Members.Count > 0 && !group.Members.ContainsKey(group.LeaderId))) group.LeaderId = group.Members.Keys.FirstOrDefault();
            group.CheckInvariants();
            state._groups.Add(groupId, group);
        }
        foreach (var (groupId, map) in offsets)
        {
            if (map.Count == 0) continue;
            if (!state._groups.TryGetValue(groupId, out var group))
            {
                group = new ConsumerGroup(groupId, nowMs);
                state._groups.Add(groupId, group);
            }
            foreach (var (tp, v) in map) group.Offsets[tp] = v;
        }
        return state;
    }

    // ------------------------------------------------------------------ Inspection (tests, metrics, admin)

    /// <summary>A read-only view of one group, or null when the coordinator has no such group.</summary>
    public GroupSnapshot? Inspect(string groupId)
    {
        if (!_groups.TryGetValue(groupId, out var g)) return null;
        return new GroupSnapshot(
            g.GroupId, g.State, g.GenerationId, g.ProtocolType, g.ProtocolName, g.LeaderId, g.CurrentStateTimestampMs,
            g.Members.Values.Select(m => new MemberSnapshot(m.MemberId, m.GroupInstanceId, m.Assignment, m.AssignmentGeneration,
                m.AwaitingJoinToken, m.AwaitingSyncToken, m.SessionTimeoutMs, m.RebalanceTimeoutMs)).ToList(),
            g.PendingMembers.Keys.ToList(),
            new Dictionary<TopicPartition, OffsetCommitValue>(g.Offsets));
    }

    /// <summary>
    /// Every committed offset of every group, as (group, partition, offset): the input of the consumer-lag gauge.
    /// Copied, so the caller may use it after releasing the shard.
    /// </summary>
    public List<CommittedOffset> CommittedOffsets()
    {
        var offsets = new List<CommittedOffset>();
        foreach (var group in _groups.Values)
        {
            foreach (var (partition, value) in group.Offsets)
            {
                offsets.Add(new CommittedOffset(group.GroupId, partition, value.Offset));
            }
        }
        return offsets;
    }

    /// <summary>Request tokens of offset commits whose records are not yet acknowledged.</summary>
    public IReadOnlyCollection<long> PendingOffsetCommitTokens => _pendingCommits.Keys;
}

/// <summary>One group's committed offset of one partition.</summary>
public readonly record struct CommittedOffset(string GroupId, TopicPartition Partition, long Offset);

public sealed record MemberSnapshot(string MemberId, string? GroupInstanceId, byte[] Assignment, int AssignmentGeneration, long? AwaitingJoinToken, long? AwaitingSyncToken, int SessionTimeoutMs, int RebalanceTimeoutMs);

public sealed record GroupSnapshot(
    string GroupId,
    GroupState State,
    int GenerationId,
    string? ProtocolType,
    string? ProtocolName,
    string? LeaderId,
    long? CurrentStateTimestampMs,
    IReadOnlyList<MemberSnapshot> Members,
    IReadOnlyList<string> PendingMemberIds,
    IReadOnlyDictionary<TopicPartition, OffsetCommitValue> Offsets);
