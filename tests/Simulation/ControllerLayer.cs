using System.Globalization;
using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;
using Kraft.Quorum.Raft;

namespace Kraft.Simulation;

/// <summary>Switches of the controller simulation; the unsafe ones break the driver contract on purpose (tests only).</summary>
public sealed record ControllerSimulationOptions
{
    /// <summary>TEST ONLY: answer a write as soon as Raft accepted its entry, before it commits.</summary>
    public bool UnsafeAnswerBeforeCommit { get; init; }

    /// <summary>TEST ONLY: activate the controller on election, before the epoch's LeaderChange entry commits
    /// (<see cref="ControllerHost.UnsafeActivateOnElection"/>).</summary>
    public bool UnsafeActivateOnElection { get; init; }

    /// <summary>TEST ONLY: write each record of an operation as its own Raft entry, so that a failover can commit a
    /// prefix of an operation. Also turns off the entry-level "one entry = one operation" check, to show that the
    /// image-level checks catch half an operation by themselves.</summary>
    public bool UnsafeSplitOperations { get; init; }

    /// <summary>The decided entry reaches the Raft core 0 to this many ms (exclusive) later, as production hands it
    /// from the request thread to the driver thread. Widening it explores the decide/append window.</summary>
    public int HandOffDelayMaxMs { get; init; } = 2;
}

/// <summary>
/// The controller on top of the simulated Raft cluster. Every node runs the production <see cref="ControllerHost"/>
/// (and so the production <see cref="QuorumController"/>) fed by the same Ready bundles as the Raft state machine;
/// this class plays the rest of production's driver (ControllerService + the RaftDriver's proposal tracking):
/// operations are serialized per node, each decided result becomes one Raft entry, the response leaves only after
/// that entry committed in the epoch it was proposed in, and a proposal that is truncated, overtaken by a role
/// change or refused is rolled back. Simulated admin clients and brokers send requests to the node they believe
/// leads, over a lossy link, with timeouts.
/// <para>Checks, after every event: the committed log replays without error to images that keep
/// <see cref="MetadataImage.CheckConsistency"/>, never lower a partition's leader or partition epoch, and hold
/// only whole operations (every committed Data entry is exactly one decided operation's batch); every running
/// node's image equals the replay of the committed prefix it has applied; a write answered OK is committed at its
/// offset and stays so; a proposal that was truncated never commits; at most one node activates per epoch, and
/// only the Raft leader of that epoch.</para>
/// Owned by the simulator's thread.
/// </summary>
internal sealed class ControllerLayer
{
    private const int BrokerCount = 4;
    private const int ClientCount = 4;
    private const int RequestTimeoutMs = 600;
    private const int NodeQueueLimit = 16;
    private static readonly string[] TopicNames = ["a", "b", "c", "d", "e", "f"];

    private readonly ControllerSimulationOptions _options;
    private readonly IReadOnlyList<SimNode> _nodes;
    private readonly SplitMix64Random _random;
    private readonly Action<long, Action> _schedule;
    private readonly Func<long> _now;
    private readonly Action<string> _report;
    private readonly Action<string> _trace;
    private readonly Action<SimNode> _processReady;
    private readonly Func<bool> _healed;
    private readonly Action<ProposeResult> _onPostHealProposal;
    private readonly ControllerConfig _config = new() { BrokerSessionTimeoutMs = 1_200, LeaderImbalanceCheckIntervalSeconds = 1 };
    private readonly Dictionary<int, NodeDriver> _drivers = [];
    private readonly List<RefEntry> _committed = [];
    private readonly HashSet<string> _decidedBatches = [];
    private readonly Dictionary<long, List<(int Epoch, string Op)>> _acknowledged = [];
    private readonly Dictionary<long, List<(int Epoch, string Op)>> _truncated = [];
    private readonly Dictionary<int, int> _activatedBy = [];
    private readonly BrokerActor[] _brokers;
    private readonly ClientActor[] _clients;
    private long _requestIds;
    private ulong _topicIds;

    public ControllerLayer(
        ControllerSimulationOptions options, IReadOnlyList<SimNode> nodes, SplitMix64Random random, Action<long, Action> schedule, Func<long> now,
        Action<string> report, Action<string> trace, Action<SimNode> processReady, Func<bool> healed, Action<ProposeResult> onPostHealProposal)
    {
        _options = options;
        _nodes = nodes;
        _random = random;
        _schedule = schedule;
        _now = now;
        _report = report;
        _trace = trace;
        _processReady = processReady;
        _healed = healed;
        _onPostHealProposal = onPostHealProposal;
        _brokers = [.. Enumerable.Range(1, BrokerCount).Select(i => new BrokerActor(new BrokerId(i)))];
        _clients = [.. Enumerable.Range(1, ClientCount).Select(i => new ClientActor(i))];
        foreach (SimNode node in nodes)
        {
            _drivers[node.Id.Value] = new NodeDriver();
            // Topic ids come from the seeded PRNG so that a seed replays exactly.
            node.HostFactory = () => new ControllerHost(_config, MetadataImage.Empty, () => new Guid((int)++_topicIds, (short)node.Id.Value, 0, new byte[8]))
            {
                UnsafeActivateOnElection = _options.UnsafeActivateOnElection,
            };
        }
    }

    public int Acknowledged { get; private set; }

    public int Indeterminate { get; private set; }

    public int IndeterminateButCommitted { get; private set; }

    public int Activations { get; private set; }

    public int Requests { get; private set; }

    public int NotControllerAnswers { get; private set; }

    public int AnsweredWithoutRecords { get; private set; }

    public int CommittedOperations { get; private set; }

    /// <summary>How many committed records of each kind (coverage: fencing, elections, reassignments, ...).</summary>
    public SortedDictionary<string, int> CommittedRecordKinds { get; } = new(StringComparer.Ordinal);

    private MetadataImage LatestCommittedImage => _committed.Count == 0 ? MetadataImage.Empty : _committed[^1].Image;

    private long Now => _now();

    /// <summary>Starts the clients, the brokers and every node's controller tick.</summary>
    public void Start()
    {
        foreach (ClientActor c in _clients)
        {
            c.BelievedLeader = 1 + _random.Next(_nodes.Count);
            _schedule(10 + _random.Next(100), () => ClientStep(c));
        }

        foreach (BrokerActor b in _brokers)
        {
            b.Incarnation = NewIncarnation(b.Id);
            b.BelievedLeader = 1 + _random.Next(_nodes.Count);
            _schedule(5 + _random.Next(200), () => BrokerStep(b));
        }

        foreach (SimNode node in _nodes)
        {
            _schedule(250 + _random.Next(250), () => NodeTick(node));
        }
    }

    // ---- hooks called by the simulator's Ready loop, in production's order (RaftDriver.ProcessReadies) ----

    /// <summary>The log is cut at <paramref name="from"/> (truncation or snapshot reset): proposals at or above are lost.</summary>
    public void OnLogCut(SimNode node, long from)
    {
        NodeDriver d = _drivers[node.Id.Value];
        if (d.InFlight is { } f && f.Offset >= from)
        {
            Remember(_truncated, f.Offset, f.Epoch, f.Request.Description);
            FailInFlight(node, d, "lost (log truncated)");
        }
    }

    public void OnRoleChange(SimNode node, RoleInfo role)
    {
        if (node.Host is not { } host) return;
        bool leading = role.Role == RaftRole.Leader;
        if (host.OnRoleChange(leading, role.Epoch, Now)) _trace($"node {node.Id}: controller deactivated (epoch {role.Epoch})");
        if (leading && host.IsActive) ObserveActivation(node, role.Epoch);
        NodeDriver d = _drivers[node.Id.Value];
        if (!leading && d.InFlight is not null) FailInFlight(node, d, "leadership lost");
    }

    public void OnCommitted(SimNode node, LogEntry entry)
    {
        if (node.Host is not { } host) return;
        ObserveCommitted(entry);
        bool activated;
        try
        {
            activated = host.ApplyCommitted(entry.Payload, entry.Kind == LogEntryKind.LeaderChange, entry.Offset, entry.Epoch, Now).Activated;
        }
        catch (MetadataReplayException e)
        {
            _report($"node {node.Id} cannot replay committed entry {entry.Offset}: {e.Message}");
            return;
        }

        if (activated)
        {
            _trace($"node {node.Id}: controller active in epoch {entry.Epoch} from offset {entry.Offset}");
            ObserveActivation(node, entry.Epoch);
        }

        NodeDriver d = _drivers[node.Id.Value];
        if (d.InFlight is { } f && f.Offset == entry.Offset)
        {
            if (entry.Epoch == f.Epoch)
            {
                d.InFlight = null;
                if (!_options.UnsafeAnswerBeforeCommit) Acknowledge(node, f);
                Finish(node, d);
            }
            else
            {
                // Another leader's entry committed at our offset: ours is gone for good.
                Remember(_truncated, f.Offset, f.Epoch, f.Request.Description);
                FailInFlight(node, d, "lost (another entry committed at its offset)");
            }
        }
    }

    /// <summary>After each Ready: this node's image must equal the replay of the committed prefix it applied.</summary>
    public void AfterReady(SimNode node)
    {
        if (node.Host is not { } host || node.AppliedEnd == 0) return;
        MetadataImage image = host.CommittedImage;
        if (image.LastAppliedOffset != node.AppliedEnd - 1)
        {
            _report($"node {node.Id}: controller image at offset {image.LastAppliedOffset}, Raft applied through {node.AppliedEnd - 1}");
            return;
        }

        if (node.AppliedEnd - 1 >= _committed.Count)
        {
            _report($"node {node.Id} applied offset {node.AppliedEnd - 1} that no node reported as committed");
            return;
        }

        MetadataImage reference = _committed[(int)(node.AppliedEnd - 1)].Image;
        if (!ReferenceEquals(image, reference) && !image.Equals(reference))
        {
            _report($"node {node.Id}: image at offset {image.LastAppliedOffset} differs from the replay of the committed log ({image} vs {reference})");
        }
    }

    public void OnCrash(SimNode node)
    {
        NodeDriver d = _drivers[node.Id.Value];
        // The process is gone: its queued and in-flight requests get no answer (the clients time out).
        d.Waiting.Clear();
        d.InFlight = null;
        d.Busy = false;
        d.Generation++;
    }

    /// <summary>Final checks once the run is over (after healing and liveness).</summary>
    public void Finish()
    {
        foreach ((long offset, List<(int Epoch, string Op)> acks) in _acknowledged)
        {
            if (offset >= _committed.Count)
            {
                _report($"acknowledged operation at offset {offset} ({acks[0].Op}) never committed (committed end {_committed.Count})");
            }
        }
    }

    public string Summary() => string.Create(CultureInfo.InvariantCulture,
        $"controller: {Requests} requests ({NotControllerAnswers} NOT_CONTROLLER, {AnsweredWithoutRecords} answered without records), {Activations} activations, {CommittedOperations} committed operations, {Acknowledged} acknowledged writes, {Indeterminate} NOT_CONTROLLER after proposing ({IndeterminateButCommitted} of them committed anyway), {LatestCommittedImage.TopicsById.Count} topics at the end; records {string.Join(' ', CommittedRecordKinds.Select(k => $"{k.Key}:{k.Value}"))}");

    // ---- the node's controller driver: serialize, decide, propose, answer after commit ----

    private void Submit(SimNode node, Request request)
    {
        if (!node.IsUp) return;
        NodeDriver d = _drivers[node.Id.Value];
        if (d.Waiting.Count >= NodeQueueLimit) return;
        Requests++;
        d.Waiting.Enqueue(request);
        TryStartNext(node, d);
    }

    private void TryStartNext(SimNode node, NodeDriver d)
    {
        while (!d.Busy && d.Waiting.Count > 0 && node.IsUp)
        {
            Request request = d.Waiting.Dequeue();
            ControllerHost host = node.Host!;
            ControllerResult<object>? result = host.Decide(request.Operation, Now);
            if (result is null)
            {
                NotControllerAnswers++;
                Respond(request, null, node);
                continue;
            }

            if (node.Core!.Role != RaftRole.Leader || node.Core.Epoch != host.Controller.LeaderEpoch)
            {
                _report($"node {node.Id} decided {request.Description} as the controller of epoch {host.Controller.LeaderEpoch} while Raft {node.Core.Role} in epoch {node.Core.Epoch}");
            }

            if (result.Records.Count == 0)
            {
                AnsweredWithoutRecords++;
                Respond(request, result.Response, node);
                continue;
            }

            if (OnlyErrors(result.Response))
            {
                _report($"node {node.Id}: {request.Description} answered with errors only but wrote {result.Records.Count} records");
            }

            CheckLatestImage(node, host);
            byte[] payload = MetadataRecordCodec.EncodeBatch(result.Records);
            _decidedBatches.Add(Convert.ToHexString(payload));
            IReadOnlyList<byte[]> entries = _options.UnsafeSplitOperations ? [.. result.Records.Select(r => MetadataRecordCodec.EncodeBatch([r]))] : [payload];
            d.Busy = true;
            // Production hands the entry to the Raft driver's thread: other events may run in between.
            int generation = d.Generation;
            int decidedEpoch = host.Controller.LeaderEpoch;
            _schedule(_random.Next(_options.HandOffDelayMaxMs), () => Propose(node, d, generation, decidedEpoch, request, entries, result.Response));
        }
    }

    private void Propose(SimNode node, NodeDriver d, int generation, int decidedEpoch, Request request, IReadOnlyList<byte[]> entries, object response)
    {
        if (!node.IsUp || d.Generation != generation) return;
        ProposeResult proposed = node.Core!.Propose(entries);
        if (proposed.Status == ProposeStatus.Accepted && proposed.Epoch != decidedEpoch)
        {
            // Production has no guard against this (the decision and the append are two steps on two threads);
            // the simulation reports it so that a schedule that hits the window is seen.
            _report($"node {node.Id}: {request.Description} decided in epoch {decidedEpoch} was appended in epoch {proposed.Epoch}");
        }

        if (proposed.Status != ProposeStatus.Accepted)
        {
            d.InFlight = new InFlight(request, response, -1, proposed.Epoch);
            FailInFlight(node, d, proposed.Status.ToString());
            return;
        }

        if (_healed()) _onPostHealProposal(proposed);
        // The operation is answered when its last entry commits (there is only one unless UnsafeSplitOperations).
        d.InFlight = new InFlight(request, response, proposed.LastOffset, proposed.Epoch);
        if (_options.UnsafeAnswerBeforeCommit) Acknowledge(node, d.InFlight);
        _processReady(node);
    }

    private void Acknowledge(SimNode node, InFlight f)
    {
        Acknowledged++;
        Remember(_acknowledged, f.Offset, f.Epoch, f.Request.Description);
        if (f.Offset < _committed.Count) CheckAcknowledged(f.Offset);
        Respond(f.Request, f.Response, node);
    }

    private void FailInFlight(SimNode node, NodeDriver d, string reason)
    {
        InFlight f = d.InFlight!;
        d.InFlight = null;
        if (f.Offset >= 0) Indeterminate++;
        if (f.Offset >= 0) d.Indeterminate.Add((f.Offset, f.Epoch));
        _trace($"node {node.Id}: proposal {f.Request.Description} at {f.Offset} epoch {f.Epoch} failed: {reason}");
        Respond(f.Request, null, node);
        // ControllerService rolls back when the proposal's task completes, a moment later on another thread.
        int generation = d.Generation;
        _schedule(_random.Next(2), () =>
        {
            if (!node.IsUp || d.Generation != generation) return;
            node.Host!.OnProposalFailed(Now);
            Finish(node, d);
        });
    }

    private void Finish(SimNode node, NodeDriver d)
    {
        d.Busy = false;
        TryStartNext(node, d);
    }

    private void CheckLatestImage(SimNode node, ControllerHost host)
    {
        IReadOnlyList<string> problems = host.Controller.LatestImage.CheckConsistency();
        if (problems.Count > 0) _report($"node {node.Id}: controller's latest image inconsistent: {problems[0]}");
    }

    /// <summary>Sends the answer back (null = NOT_CONTROLLER) over the lossy link, with the node's leader hint.</summary>
    private void Respond(Request request, object? response, SimNode node)
    {
        int? hint = node.Core?.LeaderId?.Value;
        if (_random.NextDouble() < 0.05) return;
        _schedule(1 + _random.Next(10), () => request.OnResponse(response, hint));
    }

    private void NodeTick(SimNode node)
    {
        if (node.IsUp && node.Host!.IsActive)
        {
            Submit(node, new Request(++_requestIds, "tick", (c, now) => Box(c.Tick(now)), (_, _) => { }));
        }

        _schedule(250, () => NodeTick(node));
    }

    // ---- the reference: the committed log replayed once, in order ----

    private void ObserveCommitted(LogEntry entry)
    {
        if (entry.Offset < _committed.Count)
        {
            RefEntry known = _committed[(int)entry.Offset];
            if (known.Epoch != entry.Epoch || !known.Payload.AsSpan().SequenceEqual(entry.Payload))
            {
                _report($"committed entry {entry.Offset} changed: epoch {known.Epoch} -> {entry.Epoch}");
            }

            return;
        }

        if (entry.Offset != _committed.Count)
        {
            _report($"committed entry {entry.Offset} observed before entry {_committed.Count}");
            return;
        }

        MetadataImage before = LatestCommittedImage;
        MetadataImage after;
        IReadOnlyList<MetadataRecord> batch = entry.Kind == LogEntryKind.LeaderChange ? [] : MetadataRecordCodec.DecodeBatch(entry.Payload);
        if (entry.Kind == LogEntryKind.Data)
        {
            CommittedOperations++;
            foreach (MetadataRecord record in batch)
            {
                string kind = record switch
                {
                    PartitionChangeRecord { Replicas: not null } or PartitionChangeRecord { AddingReplicas: not null } => "Reassignment",
                    PartitionChangeRecord { Leader: not null } => "LeaderElection",
                    PartitionChangeRecord { Isr: not null } => "IsrChange",
                    _ => record.GetType().Name.Replace("Record", "", StringComparison.Ordinal),
                };
                CommittedRecordKinds[kind] = CommittedRecordKinds.GetValueOrDefault(kind) + 1;
            }
            if (!_options.UnsafeSplitOperations && !_decidedBatches.Contains(Convert.ToHexString(entry.Payload)))
            {
                _report($"committed entry {entry.Offset} is not exactly one operation's batch ({batch.Count} records)");
            }
        }

        try
        {
            after = before.ReplayAll(batch).WithProvenance(entry.Offset, entry.Epoch);
        }
        catch (MetadataReplayException e)
        {
            _report($"committed entry {entry.Offset} (epoch {entry.Epoch}) does not replay: {e.Message}");
            after = before.WithProvenance(entry.Offset, entry.Epoch);
        }

        _committed.Add(new RefEntry(entry.Epoch, entry.Payload, after));
        foreach (string problem in after.CheckConsistency())
        {
            _report($"image after committed entry {entry.Offset} inconsistent: {problem}");
        }

        foreach ((TopicImage topic, int index, PartitionRegistration p) in after.AllPartitions())
        {
            if (before.Topic(topic.Id)?.Partition(index) is { } old && (p.LeaderEpoch < old.LeaderEpoch || p.PartitionEpoch < old.PartitionEpoch))
            {
                _report($"{topic.Name}-{index}: leader/partition epoch went back from {old.LeaderEpoch}/{old.PartitionEpoch} to {p.LeaderEpoch}/{p.PartitionEpoch} at offset {entry.Offset}");
            }
        }

        foreach (TopicImage topic in after.TopicsById.Values)
        {
            if (topic.Partitions.Count == 0 || topic.Partitions.Keys.Max() != topic.Partitions.Count - 1)
            {
                _report($"topic {topic.Name} at offset {entry.Offset} has partitions [{string.Join(',', topic.Partitions.Keys)}]: half an operation");
            }
        }

        CheckAcknowledged(entry.Offset);
        if (_truncated.TryGetValue(entry.Offset, out List<(int Epoch, string Op)>? lost) && lost.Any(l => l.Epoch == entry.Epoch))
        {
            _report($"a proposal truncated at offset {entry.Offset} epoch {entry.Epoch} committed later");
        }

        foreach (NodeDriver d in _drivers.Values)
        {
            if (d.Indeterminate.Remove((entry.Offset, entry.Epoch))) IndeterminateButCommitted++;
        }
    }

    private void CheckAcknowledged(long offset)
    {
        if (!_acknowledged.TryGetValue(offset, out List<(int Epoch, string Op)>? acks)) return;
        int epoch = _committed[(int)offset].Epoch;
        foreach ((int ackEpoch, string op) in acks)
        {
            if (ackEpoch != epoch)
            {
                _report($"acknowledged operation {op} (offset {offset}, epoch {ackEpoch}) was lost: epoch {epoch}'s entry committed there");
            }
        }
    }

    private void ObserveActivation(SimNode node, int epoch)
    {
        Activations++;
        if (_activatedBy.TryGetValue(epoch, out int other) && other != node.Id.Value)
        {
            _report($"two controllers in epoch {epoch}: nodes {other} and {node.Id}");
        }

        _activatedBy[epoch] = node.Id.Value;
        if (node.Core!.Role != RaftRole.Leader || node.Core.Epoch != epoch)
        {
            _report($"node {node.Id} activated in epoch {epoch} while {node.Core.Role} in epoch {node.Core.Epoch}");
        }
    }

    private static void Remember(Dictionary<long, List<(int Epoch, string Op)>> map, long offset, int epoch, string op)
    {
        if (!map.TryGetValue(offset, out List<(int Epoch, string Op)>? list)) map[offset] = list = [];
        list.Add((epoch, op));
    }

    // ---- simulated brokers: register, heartbeat, die for a while, restart as a new incarnation ----

    private void BrokerStep(BrokerActor b)
    {
        _schedule(150 + _random.Next(150), () => BrokerStep(b));
        if (Now < b.DeadUntil || b.Outstanding) return;
        if (_random.Next(400) == 0 && !_healed())
        {
            // The broker process stops: no heartbeats, the controller must fence it after the session timeout.
            b.DeadUntil = Now + 1_000 + _random.Next(3_000);
            if (_random.Next(2) == 0)
            {
                b.Incarnation = NewIncarnation(b.Id);
                b.Epoch = -1;
            }

            _trace($"broker {b.Id} stops until {b.DeadUntil}");
            return;
        }

        long id = ++_requestIds;
        b.Outstanding = true;
        if (b.Epoch < 0)
        {
            var request = new BrokerRegistrationRequest(b.Id, b.Incarnation, [new BrokerEndpoint("PLAINTEXT", $"broker{b.Id}", 9092, SecurityProtocol.Plaintext)], $"rack{b.Id.Value % 2}");
            Send(b, id, $"register {b.Id}", (c, now) => Box(c.RegisterBroker(request, now)), response =>
            {
                if (response is BrokerRegistrationReply { Error.IsSuccess: true } r) b.Epoch = r.BrokerEpoch;
            });
        }
        else
        {
            var request = new BrokerHeartbeatRequest(b.Id, b.Epoch, LatestCommittedImage.LastAppliedOffset);
            Send(b, id, $"heartbeat {b.Id}", (c, now) => Box(c.BrokerHeartbeat(request, now)), response =>
            {
                if (response is BrokerHeartbeatReply { Error.IsSuccess: false } r && r.Error.Code != ControllerErrorCode.NotController) b.Epoch = -1;
            });
        }
    }

    private void Send(BrokerActor b, long id, string description, Func<QuorumController, long, ControllerResult<object>> operation, Action<object> onSuccess)
    {
        SendTo(b.BelievedLeader, new Request(id, description, operation, (response, hint) =>
        {
            if (b.OutstandingId != id) return;
            b.Outstanding = false;
            if (response is null) b.BelievedLeader = hint ?? 1 + _random.Next(_nodes.Count);
            else onSuccess(response);
        }));
        b.OutstandingId = id;
        _schedule(RequestTimeoutMs, () =>
        {
            if (b.OutstandingId == id && b.Outstanding)
            {
                b.Outstanding = false;
                b.BelievedLeader = 1 + _random.Next(_nodes.Count);
            }
        });
    }

    private Guid NewIncarnation(BrokerId id) => new((int)_random.NextUInt64(), (short)id.Value, 7, new byte[8]);

    // ---- simulated admin clients ----

    private void ClientStep(ClientActor c)
    {
        _schedule(10 + _random.Next(50), () => ClientStep(c));
        if (c.Outstanding) return;
        (string description, Func<QuorumController, long, ControllerResult<object>> op) = NextOperation();
        long id = ++_requestIds;
        c.Outstanding = true;
        c.OutstandingId = id;
        SendTo(c.BelievedLeader, new Request(id, description, op, (response, hint) =>
        {
            if (c.OutstandingId != id) return;
            c.Outstanding = false;
            if (response is null) c.BelievedLeader = hint ?? 1 + _random.Next(_nodes.Count);
        }));
        _schedule(RequestTimeoutMs, () =>
        {
            if (c.OutstandingId == id && c.Outstanding)
            {
                c.Outstanding = false;
                c.BelievedLeader = 1 + _random.Next(_nodes.Count);
            }
        });
    }

    private void SendTo(int nodeId, Request request)
    {
        if (_random.NextDouble() < 0.05) return;
        SimNode node = _nodes[nodeId - 1];
        _schedule(1 + _random.Next(10), () => Submit(node, request));
    }

    /// <summary>A random operation, aimed at what the committed image holds now (clients learn it from Metadata).</summary>
    private (string, Func<QuorumController, long, ControllerResult<object>>) NextOperation()
    {
        MetadataImage image = LatestCommittedImage;
        var partitions = image.AllPartitions().ToList();
        string name = TopicNames[_random.Next(TopicNames.Length)];
        switch (_random.Next(partitions.Count == 0 ? 3 : 10))
        {
            case 0:
            case 1:
            {
                int count = 1 + _random.Next(3);
                short rf = (short)(1 + _random.Next(3));
                Dictionary<string, string?>? configs = _random.Next(3) == 0 ? new() { ["retention.ms"] = (1_000 + _random.Next(1_000)).ToString(CultureInfo.InvariantCulture) } : null;
                var request = new CreateTopicsRequest([new CreatableTopic(name, count, rf, configs)]);
                return ($"create {name} x{count} rf{rf}", (ctl, now) => Box(ctl.CreateTopics(request, now)));
            }

            case 2:
            {
                var request = new IncrementalAlterConfigsRequest([_random.Next(2) == 0
                    ? new AlterConfigsResource(ConfigResource.Cluster, [new AlterableConfig("unclean.leader.election.enable", AlterConfigOp.Set, _random.Next(3) == 0 ? "true" : "false")])
                    : new AlterConfigsResource(ConfigResource.ForTopic(name), [new AlterableConfig("retention.ms", AlterConfigOp.Set, _random.Next(100_000).ToString(CultureInfo.InvariantCulture))])]);
                return ($"config {name}", (ctl, now) => Box(ctl.IncrementalAlterConfigs(request, now)));
            }

            case 3:
                return ($"delete {name}", (ctl, now) => Box(ctl.DeleteTopics(new DeleteTopicsRequest([name]), now)));
            case 4:
            {
                var request = new CreatePartitionsRequest([new CreatePartitionsTopic(name, (image.Topic(name)?.Partitions.Count ?? 1) + 1)]);
                return ($"create-partitions {name}", (ctl, now) => Box(ctl.CreatePartitions(request, now)));
            }

            case 5:
            case 6:
            {
                // AlterPartition from the partition's leader: shrink or expand the ISR, sometimes with a stale epoch.
                (TopicImage topic, int index, PartitionRegistration p) = partitions[_random.Next(partitions.Count)];
                BrokerId leader = p.HasLeader ? p.Leader : p.Replicas[0];
                long brokerEpoch = image.Broker(leader)?.BrokerEpoch ?? -1;
                List<BrokerId> isr = [.. p.Isr];
                if (isr.Count > 1 && _random.Next(2) == 0) isr.Remove(isr.First(b => b != leader));
                else if (p.Replicas.FirstOrDefault(b => !isr.Contains(b), BrokerId.None) is { } add && add != BrokerId.None) isr.Add(add);
                int stale = _random.Next(5) == 0 ? 1 : 0;
                var request = new AlterPartitionRequest(leader, brokerEpoch, [new AlterPartitionItem(topic.Id, index, p.LeaderEpoch - stale, isr, p.PartitionEpoch)]);
                return ($"alter-partition {topic.Name}-{index} isr [{string.Join(',', isr)}]", (ctl, now) => Box(ctl.AlterPartition(request, now)));
            }

            case 7:
            {
                (TopicImage topic, int index, _) = partitions[_random.Next(partitions.Count)];
                var type = _random.Next(3) == 0 ? ElectionType.Unclean : ElectionType.Preferred;
                var request = new ElectLeadersRequest(type, _random.Next(2) == 0 ? null : [new TopicPartitionName(topic.Name, index)]);
                return ($"elect {type} {topic.Name}-{index}", (ctl, now) => Box(ctl.ElectLeaders(request, now)));
            }

            default:
            {
                (TopicImage topic, int index, _) = partitions[_random.Next(partitions.Count)];
                List<BrokerId>? replicas = null;
                if (_random.Next(4) != 0)
                {
                    replicas = [.. Enumerable.Range(1, BrokerCount).Select(i => new BrokerId(i)).OrderBy(_ => _random.Next(100)).Take(1 + _random.Next(3))];
                }

                var target = new ReassignmentTarget(new TopicPartitionName(topic.Name, index), replicas);
                return ($"reassign {topic.Name}-{index} to [{(replicas is null ? "cancel" : string.Join(',', replicas))}]", (ctl, now) => Box(ctl.AlterPartitionReassignments([target], now)));
            }
        }
    }

    /// <summary>True when a response reports an error for the request and for every item in it (then nothing may be written).</summary>
    private static bool OnlyErrors(object response) => response switch
    {
        BrokerRegistrationReply r => !r.Error.IsSuccess,
        BrokerHeartbeatReply r => !r.Error.IsSuccess,
        AlterPartitionReply r => !r.Error.IsSuccess || (r.Partitions.Count > 0 && r.Partitions.All(p => !p.Error.IsSuccess)),
        IReadOnlyList<CreateTopicResult> l => l.Count > 0 && l.All(x => !x.Error.IsSuccess),
        IReadOnlyList<DeleteTopicResult> l => l.Count > 0 && l.All(x => !x.Error.IsSuccess),
        IReadOnlyList<CreatePartitionsResult> l => l.Count > 0 && l.All(x => !x.Error.IsSuccess),
        IReadOnlyList<AlterConfigsResult> l => l.Count > 0 && l.All(x => !x.Error.IsSuccess),
        IReadOnlyList<ReassignmentResult> l => l.Count > 0 && l.All(x => !x.Error.IsSuccess),
        IReadOnlyList<ElectLeaderResult> l => l.Count > 0 && l.All(x => !x.Error.IsSuccess),
        _ => false,
    };

    private static ControllerResult<object> Box<T>(ControllerResult<T> r) where T : notnull => new(r.Records, r.Response);

    private sealed record Request(long Id, string Description, Func<QuorumController, long, ControllerResult<object>> Operation, Action<object?, int?> OnResponse);

    private sealed record InFlight(Request Request, object Response, long Offset, int Epoch);

    private sealed record RefEntry(int Epoch, byte[] Payload, MetadataImage Image);

    /// <summary>One node's controller driver state (what ControllerService and the RaftDriver's pending map hold).</summary>
    private sealed class NodeDriver
    {
        public Queue<Request> Waiting { get; } = new();

        /// <summary>True from a decision with records until its proposal committed or was rolled back (the write semaphore).</summary>
        public bool Busy { get; set; }

        public InFlight? InFlight { get; set; }

        /// <summary>Bumped on every crash so that scheduled continuations of a dead process do nothing.</summary>
        public int Generation { get; set; }

        /// <summary>Proposals answered NOT_CONTROLLER after leadership was lost: they may still commit.</summary>
        public HashSet<(long Offset, int Epoch)> Indeterminate { get; } = [];
    }

    private sealed class BrokerActor(BrokerId id)
    {
        public BrokerId Id { get; } = id;

        public Guid Incarnation { get; set; }

        public long Epoch { get; set; } = -1;

        public int BelievedLeader { get; set; } = 1;

        public long DeadUntil { get; set; }

        public bool Outstanding { get; set; }

        public long OutstandingId { get; set; }
    }

    private sealed class ClientActor(int id)
    {
        public int Id { get; } = id;

        public int BelievedLeader { get; set; } = 1;

        public bool Outstanding { get; set; }

        public long OutstandingId { get; set; }
    }
}
