using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Controller;

/// <summary>Partition operations: ISR changes from leaders, leader elections, reassignments.</summary>
public sealed partial class QuorumController
{
    /// <summary>
    /// AlterPartition (KIP-497): a partition leader asks to shrink or expand its ISR. Guarded by the leader epoch
    /// (FENCED_LEADER_EPOCH when it differs) and the partition epoch (INVALID_UPDATE_VERSION when it differs), so
    /// a request decided on an old view of the partition is refused rather than undoing a newer change. The new
    /// ISR must contain the leader, only replicas (INVALID_REQUEST), and only unfenced brokers that are not
    /// shutting down (INELIGIBLE_REPLICA). When the new ISR holds every adding replica, an ongoing reassignment
    /// completes in the same change.
    /// </summary>
    public ControllerResult<AlterPartitionReply> AlterPartition(AlterPartitionRequest request, long nowMs)
    {
        if (!IsActive)
        {
            return ControllerResult<AlterPartitionReply>.Of(new(NotController, []));
        }

        BrokerRegistration? broker = LatestImage.Broker(request.BrokerId);
        if (broker is null || broker.BrokerEpoch != request.BrokerEpoch)
        {
            return ControllerResult<AlterPartitionReply>.Of(new(
                ApiError.Of(ControllerErrorCode.StaleBrokerEpoch, $"broker {request.BrokerId} epoch {request.BrokerEpoch} is not the registered epoch"), []));
        }

        var sink = new RecordSink(LatestImage);
        var results = new List<AlterPartitionItemResult>();
        foreach (AlterPartitionItem item in request.Partitions)
        {
            TopicImage? topic = sink.Image.Topic(item.TopicId);
            PartitionRegistration? p = topic?.Partition(item.PartitionIndex);
            if (topic is null || p is null)
            {
                results.Add(Failed(item, ApiError.Of(ControllerErrorCode.UnknownTopicOrPartition, $"partition {item.TopicId}:{item.PartitionIndex} does not exist")));
                continue;
            }

            ApiError error = ValidateAlterPartition(sink.Image, request.BrokerId, item, p);
            if (!error.IsSuccess)
            {
                results.Add(Failed(item, error));
                continue;
            }

            ValueList<BrokerId> newIsr = item.NewIsr.ToValueList();
            PartitionChangeRecord? change = newIsr == p.Isr && !p.IsReassigning ? null : BuildChange(sink.Image, topic, item.PartitionIndex, p, newIsr, Election.KeepIfValid);
            sink.AddIfNotNull(change);
            PartitionRegistration after = sink.Image.Topic(item.TopicId)!.Partition(item.PartitionIndex)!;
            results.Add(new AlterPartitionItemResult(item.TopicId, item.PartitionIndex, ApiError.None, after.Leader, after.LeaderEpoch, after.Isr, after.PartitionEpoch));
        }

        return Emit(sink, new AlterPartitionReply(ApiError.None, results));

        static AlterPartitionItemResult Failed(AlterPartitionItem item, ApiError error) =>
            new(item.TopicId, item.PartitionIndex, error, BrokerId.None, -1, ValueList<BrokerId>.Empty, -1);
    }

    private ApiError ValidateAlterPartition(MetadataImage image, BrokerId sender, AlterPartitionItem item, PartitionRegistration p)
    {
        if (item.LeaderEpoch != p.LeaderEpoch)
        {
            return ApiError.Of(ControllerErrorCode.FencedLeaderEpoch, $"leader epoch {item.LeaderEpoch} is not the current {p.LeaderEpoch}");
        }

        if (p.Leader != sender)
        {
            return ApiError.Of(ControllerErrorCode.NotLeaderOrFollower, $"broker {sender} is not the leader (the leader is {p.Leader})");
        }

        if (item.PartitionEpoch != p.PartitionEpoch)
        {
            return ApiError.Of(ControllerErrorCode.InvalidUpdateVersion, $"partition epoch {item.PartitionEpoch} is not the current {p.PartitionEpoch}");
        }

        if (item.NewIsr.Count == 0 || item.NewIsr.Distinct().Count() != item.NewIsr.Count || !item.NewIsr.Contains(sender))
        {
            return ApiError.Of(ControllerErrorCode.InvalidRequest, $"new ISR [{string.Join(",", item.NewIsr)}] must be non-empty, distinct and contain the leader {sender}");
        }

        if (item.NewIsr.FirstOrDefault(b => !p.Replicas.Contains(b), BrokerId.None) is var notReplica && notReplica != BrokerId.None)
        {
            return ApiError.Of(ControllerErrorCode.InvalidRequest, $"broker {notReplica} in the new ISR is not a replica {p.Replicas}");
        }

        foreach (BrokerId b in item.NewIsr)
        {
            if (!image.IsUnfenced(b))
            {
                return ApiError.Of(ControllerErrorCode.IneligibleReplica, $"broker {b} in the new ISR is fenced or not registered");
            }

            if (!p.Isr.Contains(b) && !IsEligible(image, b))
            {
                return ApiError.Of(ControllerErrorCode.IneligibleReplica, $"broker {b} is shutting down and cannot join the ISR");
            }
        }

        return ApiError.None;
    }

    /// <summary>
    /// ElectLeaders. Preferred: move leadership to the first replica when it is a live ISR member
    /// (ELECTION_NOT_NEEDED when it already leads, PREFERRED_LEADER_NOT_AVAILABLE otherwise). Unclean: only for
    /// partitions without a leader; a live ISR member is still preferred, else any live replica
    /// (ELIGIBLE_LEADERS_NOT_AVAILABLE when none). With Partitions null every partition is considered and only
    /// the elected ones are reported.
    /// </summary>
    public ControllerResult<IReadOnlyList<ElectLeaderResult>> ElectLeaders(ElectLeadersRequest request, long nowMs)
    {
        var results = new List<ElectLeaderResult>();
        bool all = request.Partitions is null;
        IReadOnlyList<TopicPartitionName> partitions = request.Partitions
            ?? LatestImage.AllPartitions().Select(x => new TopicPartitionName(x.Topic.Name, x.Partition)).ToList();
        var sink = new RecordSink(LatestImage);
        foreach (TopicPartitionName name in partitions)
        {
            if (!IsActive)
            {
                results.Add(new ElectLeaderResult(name, NotController));
                continue;
            }

            TopicImage? topic = sink.Image.Topic(name.Topic);
            PartitionRegistration? p = topic?.Partition(name.Partition);
            ApiError error;
            if (topic is null || p is null)
            {
                error = ApiError.Of(ControllerErrorCode.UnknownTopicOrPartition, $"partition {name} does not exist");
            }
            else if (request.Type == ElectionType.Preferred)
            {
                if (p.Leader == p.PreferredLeader)
                {
                    error = ApiError.Of(ControllerErrorCode.ElectionNotNeeded, $"preferred replica {p.PreferredLeader} already leads {name}");
                }
                else if (!IsValidLeader(sink.Image, p, p.PreferredLeader))
                {
                    error = ApiError.Of(ControllerErrorCode.PreferredLeaderNotAvailable, $"preferred replica {p.PreferredLeader} of {name} is not a live ISR member");
                }
                else
                {
                    sink.AddIfNotNull(BuildChange(sink.Image, topic, name.Partition, p, null, Election.Preferred));
                    error = ApiError.None;
                }
            }
            else if (p.HasLeader)
            {
                error = ApiError.Of(ControllerErrorCode.ElectionNotNeeded, $"{name} has a leader ({p.Leader})");
            }
            else
            {
                PartitionChangeRecord? change = BuildChange(sink.Image, topic, name.Partition, p, null, Election.Unclean);
                if (change?.Leader is { } leader && leader != BrokerId.None)
                {
                    sink.Add(change);
                    error = ApiError.None;
                }
                else
                {
                    error = ApiError.Of(ControllerErrorCode.EligibleLeadersNotAvailable, $"no live replica of {name} can lead");
                }
            }

            if (!all || error.IsSuccess)
            {
                results.Add(new ElectLeaderResult(name, error));
            }
        }

        return Emit(sink, (IReadOnlyList<ElectLeaderResult>)results);
    }

    /// <summary>
    /// AlterPartitionReassignments (KIP-455). A target starts (or replaces) a reassignment: the replica set becomes
    /// target + the original replicas not in it, with adding = target - original and removing = original -
    /// target. The leader adds the new replicas to the ISR with AlterPartition as they catch up; when all adding
    /// replicas are in the ISR the reassignment completes (replicas = target, ISR trimmed to it, leadership moved
    /// if the leader was removed). A null target cancels, going back to the original replicas.
    /// </summary>
    public ControllerResult<IReadOnlyList<ReassignmentResult>> AlterPartitionReassignments(IReadOnlyList<ReassignmentTarget> targets, long nowMs)
    {
        var results = new List<ReassignmentResult>();
        var sink = new RecordSink(LatestImage);
        var seen = new HashSet<TopicPartitionName>();
        foreach (ReassignmentTarget target in targets)
        {
            ApiError error = !IsActive ? NotController
                : !seen.Add(target.Partition) ? ApiError.Of(ControllerErrorCode.InvalidRequest, $"partition {target.Partition} is listed twice")
                : Reassign(sink, target);
            results.Add(new ReassignmentResult(target.Partition, error));
        }

        return Emit(sink, (IReadOnlyList<ReassignmentResult>)results);
    }

    /// <summary>ListPartitionReassignments from the committed image (null = all partitions). Writes nothing.</summary>
    public ControllerResult<IReadOnlyList<OngoingReassignment>> ListPartitionReassignments(IReadOnlyList<TopicPartitionName>? partitions)
    {
        var ongoing = new List<OngoingReassignment>();
        IEnumerable<TopicPartitionName> names = partitions
            ?? CommittedImage.AllPartitions().Select(x => new TopicPartitionName(x.Topic.Name, x.Partition));
        foreach (TopicPartitionName name in names)
        {
            PartitionRegistration? p = CommittedImage.Topic(name.Topic)?.Partition(name.Partition);
            if (p is not null && p.IsReassigning)
            {
                ongoing.Add(new OngoingReassignment(name, p.Replicas, p.AddingReplicas, p.RemovingReplicas));
            }
        }

        return ControllerResult<IReadOnlyList<OngoingReassignment>>.Of(ongoing);
    }

    private ApiError Reassign(RecordSink sink, ReassignmentTarget request)
    {
        TopicImage? topic = sink.Image.Topic(request.Partition.Topic);
        PartitionRegistration? p = topic?.Partition(request.Partition.Partition);
        if (topic is null || p is null)
        {
            return ApiError.Of(ControllerErrorCode.UnknownTopicOrPartition, $"partition {request.Partition} does not exist");
        }

        ValueList<BrokerId> original = p.Replicas.Where(b => !p.AddingReplicas.Contains(b)).ToValueList();
        if (request.Replicas is null)
        {
            if (!p.IsReassigning)
            {
                return ApiError.Of(ControllerErrorCode.NoReassignmentInProgress, $"no reassignment of {request.Partition} is in progress");
            }

            ValueList<BrokerId> isr = p.Isr.Where(original.Contains).ToValueList();
            if (isr.Count == 0)
            {
                return ApiError.Of(ControllerErrorCode.InvalidReplicaAssignment, $"cannot cancel the reassignment of {request.Partition}: no original replica is in the ISR");
            }

            sink.AddIfNotNull(BuildChange(sink.Image, topic, request.Partition.Partition, p, isr, Election.KeepIfValid,
                (original, ValueList<BrokerId>.Empty, ValueList<BrokerId>.Empty)));
            return ApiError.None;
        }

        ValueList<BrokerId> target = request.Replicas.ToValueList();
        if (target.Count == 0 || target.Distinct().Count() != target.Count)
        {
            return ApiError.Of(ControllerErrorCode.InvalidReplicaAssignment, $"target replicas {target} must be non-empty and distinct");
        }

        if (target.FirstOrDefault(b => sink.Image.Broker(b) is null, BrokerId.None) is var unknown && unknown != BrokerId.None)
        {
            return ApiError.Of(ControllerErrorCode.InvalidReplicaAssignment, $"target replica {unknown} is not a registered broker");
        }

        if (!p.IsReassigning && target == p.Replicas)
        {
            return ApiError.None;
        }

        ValueList<BrokerId> adding = target.Where(b => !original.Contains(b)).ToValueList();
        ValueList<BrokerId> removing = original.Where(b => !target.Contains(b)).ToValueList();
        ValueList<BrokerId> replicas = target.Concat(removing).ToValueList();
        // Replicas dropped from an earlier, replaced target leave the ISR too.
        ValueList<BrokerId> newIsr = p.Isr.Where(replicas.Contains).ToValueList();
        if (newIsr.Count == 0)
        {
            return ApiError.Of(ControllerErrorCode.InvalidReplicaAssignment, $"target {target} would leave {request.Partition} without an in-sync replica");
        }

        sink.AddIfNotNull(BuildChange(sink.Image, topic, request.Partition.Partition, p, newIsr, Election.KeepIfValid, (replicas, adding, removing)));
        return ApiError.None;
    }
}
