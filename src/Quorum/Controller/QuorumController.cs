using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Controller;

/// <summary>
/// The active controller's decisions, as pure code: every operation takes the current state (the latest image
/// plus the in-memory broker sessions), a request and the time in milliseconds, and returns a
/// <see cref="ControllerResult{TResponse}"/> (records + response) without any I/O.
///
/// State: <see cref="CommittedImage"/> is what the Raft log has committed; <see cref="LatestImage"/> is that plus
/// the records of every operation decided but not yet committed (kept in order as pending batches), because
/// the next decision must see the previous one (Kafka's QuorumController does the same). When the driver
/// learns that a batch committed it calls <see cref="ReplayCommitted"/>; when leadership is lost it calls
/// <see cref="ResetToCommitted"/>, which drops the uncommitted batches (their responses must never be sent).
///
/// Driver contract (docs/controller.md): append each result's records as ONE atomic Raft entry (e.g.
/// <see cref="MetadataRecordCodec.EncodeBatch"/>), in the order the results were produced; send the response only
/// after that entry commits. Call <see cref="Activate"/> only once this node leads and every batch committed
/// before its epoch has been replayed. Invariant checked by tests: after any sequence of whole batches,
/// <see cref="MetadataImage.CheckConsistency"/> reports nothing.
///
/// Thread: single-threaded; owned by the controller's event loop. Clock: only the nowMs arguments.
/// </summary>
public sealed partial class QuorumController
{
    private readonly ControllerConfig _config;
    private readonly Func<Guid> _newTopicId;
    private readonly Queue<IReadOnlyList<MetadataRecord>> _pending = new();
    private readonly Dictionary<BrokerId, BrokerSession> _sessions = [];
    private readonly Dictionary<BrokerId, long> _registrationOffsets = [];
    private long _nextRebalanceCheckMs;
    private long _highestIssuedBrokerEpoch;

    /// <param name="config">static settings.</param>
    /// <param name="committed">the committed image to start from (a snapshot, or <see cref="MetadataImage.Empty"/>).</param>
    /// <param name="newTopicId">source of topic ids; tests pass a deterministic one. Defaults to random UUIDs.</param>
    public QuorumController(ControllerConfig config, MetadataImage committed, Func<Guid>? newTopicId = null)
    {
        _config = config;
        _newTopicId = newTopicId ?? Guid.NewGuid;
        LoadSnapshot(committed);
    }

    public ControllerConfig Config => _config;

    /// <summary>The image of everything committed so far.</summary>
    public MetadataImage CommittedImage { get; private set; } = MetadataImage.Empty;

    /// <summary>The committed image plus the pending (uncommitted) batches; decisions are made on this.</summary>
    public MetadataImage LatestImage { get; private set; } = MetadataImage.Empty;

    /// <summary>True between <see cref="Activate"/> and <see cref="ResetToCommitted"/>; otherwise every operation
    /// answers NOT_CONTROLLER and writes nothing.</summary>
    public bool IsActive { get; private set; }

    /// <summary>The Raft epoch this controller leads in (valid while active).</summary>
    public int LeaderEpoch { get; private set; } = -1;

    /// <summary>Batches decided but not yet seen committed, oldest first.</summary>
    public int PendingBatchCount => _pending.Count;

    /// <summary>The metadata no-op a new leader appends (if the Raft layer does not write its own) so that its
    /// epoch commits; see the class comment for when to call <see cref="Activate"/>.</summary>
    public static IReadOnlyList<MetadataRecord> LeaderChangeBatch(int leaderId, int epoch) => [new LeaderChangeRecord(leaderId, epoch)];

    /// <summary>
    /// Makes this controller active in <paramref name="leaderEpoch"/>. Every registered broker gets a fresh session
    /// starting now, so brokers are not fenced for heartbeats they sent to the previous leader, with one exception:
    /// <paramref name="lastKnownContact"/> is a broker this node knows was alive only until a given time, namely the
    /// node of the previous Raft leader, which this node last heard from then. Its session starts at that time (never
    /// later than now), so that when the old controller died together with its broker (a combined node), the broker is
    /// fenced one session timeout after it went silent rather than one session timeout after this takeover: the
    /// takeover itself took an election. If that node is in fact alive, it heartbeats this controller within its
    /// heartbeat interval, as every broker does after a controller change; a node that cannot reach this controller
    /// for the rest of the session timeout is fenced, which is what the session timeout is for. The session never
    /// starts more than half a session timeout before now, so a live broker always has that long to find this
    /// controller, however old the contact (a node that followed that leader long ago and led nothing since).
    /// </summary>
    public void Activate(int leaderEpoch, long nowMs, BrokerContact? lastKnownContact = null)
    {
        _pending.Clear();
        LatestImage = CommittedImage;
        IsActive = true;
        LeaderEpoch = leaderEpoch;
        _sessions.Clear();
        foreach (BrokerId id in CommittedImage.Brokers.Keys)
        {
            long start = lastKnownContact is { } contact && contact.Broker == id
                ? Math.Clamp(contact.LastContactMs, nowMs - (_config.BrokerSessionTimeoutMs / 2), nowMs)
                : nowMs;
            _sessions[id] = new BrokerSession(start);
        }

        _nextRebalanceCheckMs = nowMs + (_config.LeaderImbalanceCheckIntervalSeconds * 1000);
    }

    /// <summary>
    /// Leadership lost (or the Raft log diverged from what this controller proposed): drop every uncommitted
    /// change and go back to the last committed image. The responses of the dropped operations must not be sent
    /// (the driver answers them NOT_CONTROLLER).
    /// </summary>
    public void ResetToCommitted()
    {
        _pending.Clear();
        LatestImage = CommittedImage;
        IsActive = false;
        LeaderEpoch = -1;
        _sessions.Clear();
    }

    /// <summary>
    /// Replaces all state with a snapshot (or the initial image). Pending batches are dropped.
    /// </summary>
    public void LoadSnapshot(MetadataImage image)
    {
        _pending.Clear();
        CommittedImage = image;
        LatestImage = image;
        _registrationOffsets.Clear();
        foreach (BrokerId id in image.Brokers.Keys)
        {
            _registrationOffsets[id] = image.LastAppliedOffset;
        }
    }

    /// <summary>
    /// A batch committed at Raft offset/epoch (on the leader: normally its own oldest pending batch; on a
    /// standby controller: whatever the leader wrote). If it is not the batch this controller expected, the
    /// uncommitted changes are void and the latest image falls back to the committed one. An empty batch (a
    /// Raft entry that carries no metadata) only advances the offset.
    /// </summary>
    public void ReplayCommitted(IReadOnlyList<MetadataRecord> batch, long offset, int epoch)
    {
        if (offset <= CommittedImage.LastAppliedOffset)
        {
            throw new InvalidOperationException($"committed batch at offset {offset} is not after the committed offset {CommittedImage.LastAppliedOffset}");
        }

        MetadataImage image = CommittedImage;
        foreach (MetadataRecord record in batch)
        {
            if (IsUncleanElection(image, record))
            {
                UncleanElectionsReplayed++;
            }

            image = image.Replay(record);
        }

        CommittedImage = image.WithProvenance(offset, epoch);
        if (batch.Count == 0)
        {
            // A Raft entry without metadata records (e.g. the Raft layer's own no-op) only moves the offset;
            // it is never one of this controller's batches, so the pending ones stay valid.
            LatestImage = _pending.Count == 0 ? CommittedImage : LatestImage.WithProvenance(offset, epoch);
            return;
        }

        foreach (MetadataRecord record in batch)
        {
            if (record is RegisterBrokerRecord r)
            {
                _registrationOffsets[r.BrokerId] = offset;
            }
        }

        if (_pending.Count > 0 && _pending.Peek().SequenceEqual(batch))
        {
            _pending.Dequeue();
            LatestImage = _pending.Count == 0 ? CommittedImage : LatestImage.WithProvenance(offset, epoch);
        }
        else
        {
            _pending.Clear();
            LatestImage = CommittedImage;
        }
    }

    /// <summary>
    /// Leaders elected from outside the ISR in every batch replayed by <see cref="ReplayCommitted"/> since this
    /// controller was created (on every node, active or not). The node's metrics count the increase only while
    /// this controller is active, so that a cluster counts each unclean election once (Kafka counts
    /// UncleanLeaderElectionsPerSec on the active controller too).
    /// </summary>
    public long UncleanElectionsReplayed { get; private set; }

    /// <summary>
    /// True when <paramref name="record"/> is a PartitionChange that names a leader who is not in the partition's
    /// ISR just before it (the ISR <see cref="BuildChange"/> elected from): the new leader may lack acknowledged
    /// records. This is the same test the periodic tick uses to count its own unclean elections.
    /// </summary>
    public static bool IsUncleanElection(MetadataImage before, MetadataRecord record) =>
        record is PartitionChangeRecord { Leader: { } leader } change
        && leader != BrokerId.None
        && before.Topic(change.TopicId)?.Partition(change.PartitionIndex) is { } partition
        && !partition.Isr.Contains(leader);

    /// <summary>True when the broker may lead or join an ISR: registered, unfenced, not shutting down.</summary>
    public bool IsEligible(MetadataImage image, BrokerId id) =>
        image.IsUnfenced(id) && !(_sessions.TryGetValue(id, out BrokerSession? s) && s.ShuttingDown);

    /// <summary>unclean.leader.election.enable for a topic: the topic's own setting beats the cluster-wide dynamic
    /// default, which beats the static setting.</summary>
    public bool UncleanLeaderElectionAllowed(MetadataImage image, string topicName)
    {
        string? value = image.ConfigValue(ConfigResource.ForTopic(topicName), ConfigDefinitions.UncleanLeaderElectionEnable)
            ?? image.ConfigValue(ConfigResource.Cluster, ConfigDefinitions.UncleanLeaderElectionEnable);
        return value is null ? _config.UncleanLeaderElectionEnable : value.Equals("true", StringComparison.OrdinalIgnoreCase);
    }

    private static ApiError NotController => ApiError.Of(ControllerErrorCode.NotController, "this node is not the active controller");

    /// <summary>Hands a decided operation's records to the pending queue and the latest image.</summary>
    private ControllerResult<T> Emit<T>(RecordSink sink, T response)
    {
        if (sink.Records.Count == 0)
        {
            return ControllerResult<T>.Of(response);
        }

        MetadataRecord[] records = [.. sink.Records];
        LatestImage = sink.Image;
        _pending.Enqueue(records);
        return new ControllerResult<T>(records, response);
    }

    private enum Election
    {
        /// <summary>Keep a valid leader; elect only if it is gone.</summary>
        KeepIfValid,

        /// <summary>Move leadership to the first replica if it is a valid leader.</summary>
        Preferred,

        /// <summary>Like KeepIfValid, but a non-ISR replica may be elected even if the config forbids it.</summary>
        Unclean,
    }

    /// <summary>
    /// The one place that decides a partition's next state. Given an optional new ISR and replica sets, it
    /// (1) completes a reassignment when every adding replica is in the ISR, (2) elects a leader per the rules
    /// (keep a valid leader; else the first eligible ISR member in replica order; else, if unclean election is
    /// allowed, the first eligible replica with the ISR reset to it alone; else leader -1 with the ISR kept),
    /// and returns a change record with only the changed fields, or null when nothing changes.
    /// </summary>
    private PartitionChangeRecord? BuildChange(
        MetadataImage image,
        TopicImage topic,
        int index,
        PartitionRegistration p,
        ValueList<BrokerId>? targetIsr,
        Election election,
        (ValueList<BrokerId> Replicas, ValueList<BrokerId> Adding, ValueList<BrokerId> Removing)? replicaSets = null)
    {
        ValueList<BrokerId> replicas = replicaSets?.Replicas ?? p.Replicas;
        ValueList<BrokerId> adding = replicaSets?.Adding ?? p.AddingReplicas;
        ValueList<BrokerId> removing = replicaSets?.Removing ?? p.RemovingReplicas;
        ValueList<BrokerId> isr = targetIsr ?? p.Isr;

        if ((adding.Count > 0 || removing.Count > 0) && adding.All(isr.Contains))
        {
            ValueList<BrokerId> target = replicas.Where(b => !removing.Contains(b)).ToValueList();
            ValueList<BrokerId> targetIsrAfter = isr.Where(target.Contains).ToValueList();
            bool leaderStays = p.HasLeader && targetIsrAfter.Contains(p.Leader) && IsEligible(image, p.Leader);
            if (targetIsrAfter.Count > 0 && (leaderStays || targetIsrAfter.Any(b => IsEligible(image, b))))
            {
                replicas = target;
                isr = targetIsrAfter;
                adding = ValueList<BrokerId>.Empty;
                removing = ValueList<BrokerId>.Empty;
            }
        }

        bool Valid(BrokerId b) => b != BrokerId.None && replicas.Contains(b) && isr.Contains(b) && IsEligible(image, b);

        BrokerId leader = p.Leader;
        if (election == Election.Preferred && replicas.Count > 0 && Valid(replicas[0]))
        {
            leader = replicas[0];
        }
        else if (!Valid(leader))
        {
            leader = replicas.FirstOrDefault(b => isr.Contains(b) && IsEligible(image, b), BrokerId.None);
            if (leader == BrokerId.None && (election == Election.Unclean || UncleanLeaderElectionAllowed(image, topic.Name)))
            {
                leader = replicas.FirstOrDefault(b => IsEligible(image, b), BrokerId.None);
                if (leader != BrokerId.None)
                {
                    // An unclean leader may lack committed records; the ISR restarts from it alone.
                    isr = ValueList.Of(leader);
                }
            }
        }

        if (isr.Count == 0)
        {
            throw new InvalidOperationException($"bug: empty ISR computed for {topic.Name}-{index}");
        }

        var change = new PartitionChangeRecord(
            topic.Id,
            index,
            Leader: leader != p.Leader ? leader : null,
            Isr: isr != p.Isr ? isr : null,
            Replicas: replicas != p.Replicas ? replicas : null,
            RemovingReplicas: removing != p.RemovingReplicas ? removing : null,
            AddingReplicas: adding != p.AddingReplicas ? adding : null);
        return change.Leader is null && change.Isr is null && change.Replicas is null && change.RemovingReplicas is null && change.AddingReplicas is null
            ? null
            : change;
    }

    private bool IsValidLeader(MetadataImage image, PartitionRegistration p, BrokerId b) =>
        b != BrokerId.None && p.Replicas.Contains(b) && p.Isr.Contains(b) && IsEligible(image, b);

    /// <summary>Records of one operation, replayed as they are added so later decisions in the same operation
    /// see earlier ones. Owned by one operation call.</summary>
    private sealed class RecordSink(MetadataImage image)
    {
        public MetadataImage Image { get; private set; } = image;

        public List<MetadataRecord> Records { get; } = [];

        public void Add(MetadataRecord record)
        {
            Image = Image.Replay(record);
            Records.Add(record);
        }

        public void AddIfNotNull(MetadataRecord? record)
        {
            if (record is not null)
            {
                Add(record);
            }
        }
    }

    /// <summary>In-memory liveness of one broker as seen by this controller (never written to the log: a new
    /// leader starts every session afresh in <see cref="Activate"/>).</summary>
    private sealed class BrokerSession(long lastContactMs)
    {
        public long LastContactMs { get; set; } = lastContactMs;

        public bool ShuttingDown { get; set; }
    }
}
