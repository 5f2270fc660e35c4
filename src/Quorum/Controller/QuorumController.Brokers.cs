using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Controller;

/// <summary>Broker lifecycle: registration, heartbeats, fencing, controlled shutdown, periodic tick, producer ids.</summary>
public sealed partial class QuorumController
{
    /// <summary>
    /// BrokerRegistration. A new broker, or a new incarnation of a known one, gets a new broker epoch and is
    /// registered fenced (it is unfenced by a heartbeat once it has caught up). The same incarnation registering
    /// again gets its existing epoch and writes nothing. A different incarnation while the old one still holds
    /// a live session is refused with DUPLICATE_BROKER_REGISTRATION (two processes claiming one node.id).
    /// </summary>
    public ControllerResult<BrokerRegistrationReply> RegisterBroker(BrokerRegistrationRequest request, long nowMs)
    {
        if (!IsActive)
        {
            return ControllerResult<BrokerRegistrationReply>.Of(new(NotController, -1));
        }

        if (request.BrokerId.Value < 0)
        {
            return ControllerResult<BrokerRegistrationReply>.Of(new(ApiError.Of(ControllerErrorCode.InvalidRequest, $"broker id {request.BrokerId} is negative"), -1));
        }

        BrokerRegistration? existing = LatestImage.Broker(request.BrokerId);
        if (existing is not null && existing.IncarnationId == request.IncarnationId)
        {
            Session(request.BrokerId, nowMs).LastContactMs = nowMs;
            return ControllerResult<BrokerRegistrationReply>.Of(new(ApiError.None, existing.BrokerEpoch));
        }

        if (existing is not null && !existing.Fenced && HasLiveSession(request.BrokerId, nowMs))
        {
            return ControllerResult<BrokerRegistrationReply>.Of(new(
                ApiError.Of(ControllerErrorCode.DuplicateBrokerRegistration,
                    $"broker {request.BrokerId} is registered with incarnation {existing.IncarnationId} whose session has not expired"),
                -1));
        }

        var sink = new RecordSink(LatestImage);
        if (existing is not null && !existing.Fenced)
        {
            // The old incarnation's session expired but the tick has not fenced it yet: fence it first so that
            // no partition keeps a leader whose registration is being replaced.
            FenceAndRemoveFromIsrs(sink, request.BrokerId);
        }

        long epoch = Math.Max(_highestIssuedBrokerEpoch, Math.Max(LatestImage.LastAppliedOffset, LatestImage.Brokers.Values.Select(b => b.BrokerEpoch).DefaultIfEmpty(0).Max())) + 1;
        _highestIssuedBrokerEpoch = epoch;
        sink.Add(new RegisterBrokerRecord(request.BrokerId, request.IncarnationId, epoch, request.Listeners.ToValueList(), request.Rack, Fenced: true));
        _sessions[request.BrokerId] = new BrokerSession(nowMs);
        return Emit(sink, new BrokerRegistrationReply(ApiError.None, epoch));
    }

    /// <summary>
    /// BrokerHeartbeat. Renews the session; unfences a fenced broker once its metadata offset has reached the
    /// offset of its own committed registration; handles wantFence and controlled shutdown (wantShutDown):
    /// leadership moves to other live ISR members, the broker leaves every ISR it can, and it is fenced, all in
    /// one batch, after which it leads nothing and is told shouldShutDown.
    /// </summary>
    public ControllerResult<BrokerHeartbeatReply> BrokerHeartbeat(BrokerHeartbeatRequest request, long nowMs)
    {
        if (!IsActive)
        {
            return ControllerResult<BrokerHeartbeatReply>.Of(new(NotController, false, true, false));
        }

        BrokerRegistration? broker = LatestImage.Broker(request.BrokerId);
        if (broker is null)
        {
            return ControllerResult<BrokerHeartbeatReply>.Of(new(
                ApiError.Of(ControllerErrorCode.BrokerIdNotRegistered, $"broker {request.BrokerId} is not registered"), false, true, false));
        }

        if (broker.BrokerEpoch != request.BrokerEpoch)
        {
            return ControllerResult<BrokerHeartbeatReply>.Of(new(
                ApiError.Of(ControllerErrorCode.StaleBrokerEpoch, $"broker {request.BrokerId} epoch {request.BrokerEpoch} is not the registered epoch {broker.BrokerEpoch}"),
                false, broker.Fenced, false));
        }

        BrokerSession session = Session(request.BrokerId, nowMs);
        session.LastContactMs = nowMs;
        bool caughtUp = CommittedImage.Broker(request.BrokerId)?.BrokerEpoch == request.BrokerEpoch
            && _registrationOffsets.TryGetValue(request.BrokerId, out long registeredAt)
            && request.CurrentMetadataOffset >= registeredAt;

        var sink = new RecordSink(LatestImage);
        if (request.WantShutDown)
        {
            session.ShuttingDown = true;
            if (!broker.Fenced)
            {
                FenceAndRemoveFromIsrs(sink, request.BrokerId);
            }

            bool leadsNothing = !sink.Image.AllPartitions().Any(p => p.Registration.Leader == request.BrokerId);
            return Emit(sink, new BrokerHeartbeatReply(ApiError.None, caughtUp, IsFenced: true, ShouldShutDown: leadsNothing));
        }

        if (request.WantFence)
        {
            if (!broker.Fenced)
            {
                FenceAndRemoveFromIsrs(sink, request.BrokerId);
            }
        }
        else if (broker.Fenced && caughtUp && !session.ShuttingDown)
        {
            sink.Add(new UnfenceBrokerRecord(request.BrokerId, broker.BrokerEpoch));
            ElectLeadersForOfflinePartitions(sink, request.BrokerId);
        }

        bool fenced = sink.Image.Broker(request.BrokerId)!.Fenced;
        return Emit(sink, new BrokerHeartbeatReply(ApiError.None, caughtUp, fenced, ShouldShutDown: false));
    }

    /// <summary>UnregisterBroker: fences the broker (moving its leadership away) and removes its registration.</summary>
    public ControllerResult<ApiError> UnregisterBroker(BrokerId brokerId, long nowMs)
    {
        if (!IsActive)
        {
            return ControllerResult<ApiError>.Of(NotController);
        }

        BrokerRegistration? broker = LatestImage.Broker(brokerId);
        if (broker is null)
        {
            return ControllerResult<ApiError>.Of(ApiError.Of(ControllerErrorCode.BrokerIdNotRegistered, $"broker {brokerId} is not registered"));
        }

        var sink = new RecordSink(LatestImage);
        if (!broker.Fenced)
        {
            FenceAndRemoveFromIsrs(sink, brokerId);
        }

        sink.Add(new UnregisterBrokerRecord(brokerId, broker.BrokerEpoch));
        _sessions.Remove(brokerId);
        return Emit(sink, ApiError.None);
    }

    /// <summary>
    /// The periodic work, called by the driver at least every few hundred milliseconds: fence brokers whose
    /// session expired (no heartbeat for more than broker.session.timeout.ms), give leaderless partitions a
    /// leader when one became possible (including unclean elections where allowed), and every
    /// leader.imbalance.check.interval.seconds run the automatic preferred-leader rebalance.
    /// </summary>
    public ControllerResult<TickReport> Tick(long nowMs)
    {
        if (!IsActive)
        {
            return ControllerResult<TickReport>.Of(new TickReport([], 0, 0));
        }

        var sink = new RecordSink(LatestImage);
        var fenced = new List<BrokerId>();
        foreach (BrokerRegistration broker in LatestImage.Brokers.Values)
        {
            if (!broker.Fenced && !HasLiveSession(broker.Id, nowMs))
            {
                FenceAndRemoveFromIsrs(sink, broker.Id);
                fenced.Add(broker.Id);
            }
        }

        int unclean = 0;
        foreach ((TopicImage topic, int index, PartitionRegistration p) in sink.Image.AllPartitions().Where(x => !x.Registration.HasLeader).ToList())
        {
            PartitionChangeRecord? change = BuildChange(sink.Image, topic, index, p, null, Election.KeepIfValid);
            if (change?.Leader is { } leader && leader != BrokerId.None)
            {
                sink.Add(change);
                if (!p.Isr.Contains(leader))
                {
                    unclean++;
                }
            }
        }

        int rebalanced = 0;
        if (_config.AutoLeaderRebalanceEnable && nowMs >= _nextRebalanceCheckMs)
        {
            _nextRebalanceCheckMs = nowMs + (_config.LeaderImbalanceCheckIntervalSeconds * 1000);
            rebalanced = RebalanceLeaders(sink);
        }

        return Emit(sink, new TickReport(fenced, rebalanced, unclean));
    }

    /// <summary>AllocateProducerIds: hands the broker the next block of producer ids.</summary>
    public ControllerResult<AllocateProducerIdsReply> AllocateProducerIds(AllocateProducerIdsRequest request, long nowMs)
    {
        if (!IsActive)
        {
            return ControllerResult<AllocateProducerIdsReply>.Of(new(NotController, -1, 0));
        }

        BrokerRegistration? broker = LatestImage.Broker(request.BrokerId);
        if (broker is null || broker.BrokerEpoch != request.BrokerEpoch)
        {
            return ControllerResult<AllocateProducerIdsReply>.Of(new(
                ApiError.Of(ControllerErrorCode.StaleBrokerEpoch, $"broker {request.BrokerId} epoch {request.BrokerEpoch} is not registered"), -1, 0));
        }

        long start = LatestImage.NextProducerId;
        var sink = new RecordSink(LatestImage);
        sink.Add(new ProducerIdsRecord(request.BrokerId, request.BrokerEpoch, start + _config.ProducerIdBlockSize));
        return Emit(sink, new AllocateProducerIdsReply(ApiError.None, start, _config.ProducerIdBlockSize));
    }

    private BrokerSession Session(BrokerId id, long nowMs)
    {
        if (!_sessions.TryGetValue(id, out BrokerSession? session))
        {
            session = new BrokerSession(nowMs);
            _sessions[id] = session;
        }

        return session;
    }

    private bool HasLiveSession(BrokerId id, long nowMs) =>
        _sessions.TryGetValue(id, out BrokerSession? s) && nowMs - s.LastContactMs <= _config.BrokerSessionTimeoutMs;

    /// <summary>
    /// Fences a broker: FenceBroker first (so elections in the same batch skip it), then every partition whose
    /// ISR holds it loses it from the ISR (unless it is the last member: the ISR never becomes empty) and
    /// elects a new leader if it led.
    /// </summary>
    private void FenceAndRemoveFromIsrs(RecordSink sink, BrokerId id)
    {
        BrokerRegistration broker = sink.Image.Broker(id)!;
        if (!broker.Fenced)
        {
            sink.Add(new FenceBrokerRecord(id, broker.BrokerEpoch));
        }

        foreach ((TopicImage topic, int index, PartitionRegistration p) in sink.Image.AllPartitions().ToList())
        {
            if (!p.Isr.Contains(id) && p.Leader != id)
            {
                continue;
            }

            ValueList<BrokerId> isr = p.Isr.Count > 1 ? p.Isr.Where(b => b != id).ToValueList() : p.Isr;
            sink.AddIfNotNull(BuildChange(sink.Image, topic, index, p, isr, Election.KeepIfValid));
        }
    }

    /// <summary>After a broker is unfenced, leaderless partitions it replicates may elect a leader again.</summary>
    private void ElectLeadersForOfflinePartitions(RecordSink sink, BrokerId id)
    {
        foreach ((TopicImage topic, int index, PartitionRegistration p) in sink.Image.AllPartitions().ToList())
        {
            if (!p.HasLeader && p.Replicas.Contains(id))
            {
                sink.AddIfNotNull(BuildChange(sink.Image, topic, index, p, null, Election.KeepIfValid));
            }
        }
    }

    /// <summary>
    /// Automatic preferred-leader rebalance: a broker is imbalanced when more than
    /// leader.imbalance.per.broker.percentage of the partitions it is preferred leader of are led by someone
    /// else; those partitions move back to it where it is a valid leader.
    /// </summary>
    private int RebalanceLeaders(RecordSink sink)
    {
        var preferredTotal = new Dictionary<BrokerId, int>();
        var preferredNotLeading = new Dictionary<BrokerId, int>();
        foreach ((_, _, PartitionRegistration p) in sink.Image.AllPartitions())
        {
            BrokerId preferred = p.PreferredLeader;
            preferredTotal[preferred] = preferredTotal.GetValueOrDefault(preferred) + 1;
            if (p.Leader != preferred)
            {
                preferredNotLeading[preferred] = preferredNotLeading.GetValueOrDefault(preferred) + 1;
            }
        }

        var imbalanced = preferredNotLeading
            .Where(kv => kv.Value * 100L > (long)_config.LeaderImbalancePerBrokerPercentage * preferredTotal[kv.Key])
            .Select(kv => kv.Key)
            .ToHashSet();
        int moved = 0;
        foreach ((TopicImage topic, int index, PartitionRegistration p) in sink.Image.AllPartitions().ToList())
        {
            if (imbalanced.Contains(p.PreferredLeader) && p.Leader != p.PreferredLeader && IsValidLeader(sink.Image, p, p.PreferredLeader))
            {
                PartitionChangeRecord? change = BuildChange(sink.Image, topic, index, p, null, Election.Preferred);
                if (change is not null)
                {
                    sink.Add(change);
                    moved++;
                }
            }
        }

        return moved;
    }
}
