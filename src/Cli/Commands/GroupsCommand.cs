using System.Buffers.Binary;
using System.CommandLine;
using System.Globalization;
using System.Text;
using Kraft.Protocol;
using Kraft.Protocol.Client;
using Kraft.Protocol.Messages;

namespace Kraft.Cli.Commands;

/// <summary><c>kraft groups list|describe|reset-offsets</c>, and the group member behind <c>kraft consume --group</c>.</summary>
public static class GroupsCommand
{
    public static Command Build()
    {
        var list = new Command("list", "List consumer groups (asks every broker for the groups it coordinates)");
        list.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            var metadata = await client.MetadataAsync([], token).ConfigureAwait(false);
            var groups = new List<(string Group, string State, string ProtocolType, int Coordinator)>();
            foreach (var broker in metadata.Brokers.OrderBy(b => b.NodeId))
            {
                var connection = await client.GetBrokerConnectionAsync(broker.NodeId, token).ConfigureAwait(false);
                var response = await connection.SendAsync<ListGroupsResponse>(new ListGroupsRequest(), cancellationToken: token).ConfigureAwait(false);
                if (response.ErrorCode != 0)
                {
                    output.Err.WriteLine($"kraft: broker {broker.NodeId}: {(ErrorCode)response.ErrorCode} (its list may be incomplete)");
                }
                groups.AddRange(response.Groups.Select(g => (g.GroupId, g.GroupState, g.ProtocolType, broker.NodeId)));
            }
            groups = groups.OrderBy(g => g.Group, StringComparer.Ordinal).ToList();
            if (output.Json)
            {
                output.WriteJson(groups.Select(g => new { group = g.Group, state = g.State, protocolType = g.ProtocolType, coordinator = g.Coordinator }));
                return ExitCodes.Ok;
            }
            output.WriteTable(["GROUP", "STATE", "PROTOCOL TYPE", "COORDINATOR"], groups.Select(g => (IReadOnlyList<string>)
                [g.Group, g.State, g.ProtocolType, g.Coordinator.ToString(CultureInfo.InvariantCulture)]));
            return ExitCodes.Ok;
        }));

        var describeName = new Argument<string>("GROUP");
        var describe = new Command("describe", "Members, assignments, committed offsets, log end offsets and lag of a group") { describeName };
        describe.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            string group = p.GetValue(describeName)!;
            var d = await DescribeAsync(client, group, token).ConfigureAwait(false);
            if (d.Error is { } error)
            {
                output.Fail(error);
                return ExitCodes.Failure;
            }
            if (output.Json)
            {
                output.WriteJson(new
                {
                    group,
                    state = d.State,
                    coordinator = d.Coordinator,
                    protocolType = d.ProtocolType,
                    protocol = d.Protocol,
                    members = d.Members.Select(m => new { memberId = m.MemberId, clientId = m.ClientId, host = m.ClientHost, assignment = m.Assignment.Select(a => new { topic = a.Topic, partition = a.Partition }) }),
                    offsets = d.Offsets.Select(o => new { topic = o.Topic, partition = o.Partition, committed = o.Committed, logEnd = o.LogEnd, lag = o.Lag, memberId = o.MemberId }),
                });
                return ExitCodes.Ok;
            }
            output.Out.WriteLine($"Group {group}: {d.State}, coordinator {d.Coordinator}, {d.Members.Count} member(s){(d.Protocol.Length > 0 ? $", protocol {d.ProtocolType}/{d.Protocol}" : "")}");
            output.WriteTable(["TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER"], d.Offsets.Select(o => (IReadOnlyList<string>)
            [
                o.Topic, o.Partition.ToString(CultureInfo.InvariantCulture),
                o.Committed < 0 ? "-" : o.Committed.ToString(CultureInfo.InvariantCulture),
                o.LogEnd < 0 ? "-" : o.LogEnd.ToString(CultureInfo.InvariantCulture),
                o.Lag is long lag ? lag.ToString(CultureInfo.InvariantCulture) : "-",
                o.MemberId ?? "-",
            ]));
            return ExitCodes.Ok;
        }));

        var resetName = new Argument<string>("GROUP");
        var topic = new Option<string>("--topic", "-t") { Description = "Topic whose offsets to reset (all its partitions)", Required = true };
        var toEarliest = new Option<bool>("--to-earliest") { Description = "Reset to each partition's earliest offset" };
        var toLatest = new Option<bool>("--to-latest") { Description = "Reset to each partition's log end offset" };
        var toOffset = new Option<long?>("--to-offset") { Description = "Reset every partition to this offset (clamped to the partition's range)" };
        var reset = new Command("reset-offsets", "Set a group's committed offsets (only while the group has no members)") { resetName, topic, toEarliest, toLatest, toOffset };
        reset.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            string group = p.GetValue(resetName)!;
            string name = p.GetValue(topic)!;
            int targets = (p.GetValue(toEarliest) ? 1 : 0) + (p.GetValue(toLatest) ? 1 : 0) + (p.GetValue(toOffset) is null ? 0 : 1);
            if (targets != 1)
            {
                output.Fail("give exactly one of --to-earliest, --to-latest, --to-offset N");
                return ExitCodes.UsageError;
            }
            var d = await DescribeAsync(client, group, token).ConfigureAwait(false);
            if (d.Error is { } error)
            {
                output.Fail(error);
                return ExitCodes.Failure;
            }
            if (d.State is not ("Empty" or "Dead"))
            {
                output.Fail($"group {group} is {d.State} with {d.Members.Count} member(s): offsets can be reset only while the group is Empty (stop its consumers first)");
                return ExitCodes.Failure;
            }
            var metadata = await client.MetadataAsync([name], token).ConfigureAwait(false);
            var info = metadata.Topics.Single();
            if (info.ErrorCode != 0)
            {
                output.Fail($"unknown topic: {name}");
                return ExitCodes.Failure;
            }
            var offsets = new List<(string Topic, int Partition, long Offset)>();
            foreach (var part in info.Partitions.OrderBy(x => x.PartitionIndex))
            {
                long earliest = (await client.ListOffsetsAsync(name, part.PartitionIndex, KafkaClient.EarliestTimestamp, cancellationToken: token).ConfigureAwait(false)).Offset;
                long latest = (await client.ListOffsetsAsync(name, part.PartitionIndex, KafkaClient.LatestTimestamp, cancellationToken: token).ConfigureAwait(false)).Offset;
                long target = p.GetValue(toEarliest) ? earliest : p.GetValue(toLatest) ? latest : Math.Clamp(p.GetValue(toOffset)!.Value, earliest, latest);
                offsets.Add((name, part.PartitionIndex, target));
            }
            var response = await client.OffsetCommitAsync(group, offsets, cancellationToken: token).ConfigureAwait(false);
            var failed = response.Topics.SelectMany(t => t.Partitions.Where(x => x.ErrorCode != 0).Select(x => $"{t.Name}-{x.PartitionIndex}: {(ErrorCode)x.ErrorCode}")).ToList();
            if (failed.Count > 0)
            {
                output.Fail($"reset refused: {string.Join(", ", failed)}");
                return ExitCodes.Failure;
            }
            if (output.Json)
            {
                output.WriteJson(offsets.Select(o => new { topic = o.Topic, partition = o.Partition, offset = o.Offset }));
                return ExitCodes.Ok;
            }
            output.WriteTable(["TOPIC", "PARTITION", "NEW OFFSET"], offsets.Select(o => (IReadOnlyList<string>)
                [o.Topic, o.Partition.ToString(CultureInfo.InvariantCulture), o.Offset.ToString(CultureInfo.InvariantCulture)]));
            return ExitCodes.Ok;
        }));

        return new Command("groups", "Consumer groups: list, describe, reset offsets") { list, describe, reset };
    }

    // ------------------------------------------------------------------ describe

    private sealed record MemberView(string MemberId, string ClientId, string ClientHost, IReadOnlyList<(string Topic, int Partition)> Assignment);

    private sealed record OffsetView(string Topic, int Partition, long Committed, long LogEnd, long? Lag, string? MemberId);

    private sealed record GroupView(string? Error, string State, int Coordinator, string ProtocolType, string Protocol, IReadOnlyList<MemberView> Members, IReadOnlyList<OffsetView> Offsets);

    /// <summary>How long commands retry while the coordinator is being created, moved or loaded.</summary>
    private static readonly TimeSpan CoordinatorWait = TimeSpan.FromSeconds(15);

    private static bool IsRetriable(short error) => (ErrorCode)error is ErrorCode.COORDINATOR_NOT_AVAILABLE or ErrorCode.COORDINATOR_LOAD_IN_PROGRESS or ErrorCode.NOT_COORDINATOR;

    /// <summary>The coordinator of <paramref name="group"/>, waiting while it is being created, elected or loaded.</summary>
    private static async Task<(int NodeId, KafkaConnection Connection)> CoordinatorAsync(KafkaClient client, string group, CancellationToken token)
    {
        var deadline = DateTime.UtcNow + CoordinatorWait;
        while (true)
        {
            var (error, nodeId, host, port) = await client.FindCoordinatorAsync(group, 0, token).ConfigureAwait(false);
            if (error == ErrorCode.NONE)
            {
                try
                {
                    return (nodeId, await client.GetConnectionAsync(host.Contains(':') ? $"[{host}]:{port}" : $"{host}:{port}", token).ConfigureAwait(false));
                }
                catch (Exception e) when (e is KafkaClientException or IOException or System.Net.Sockets.SocketException && DateTime.UtcNow < deadline)
                {
                    // A coordinator that just died is still named until the controller fences it: ask again.
                    await Task.Delay(300, token).ConfigureAwait(false);
                    continue;
                }
            }
            if (!IsRetriable((short)error) || DateTime.UtcNow > deadline)
            {
                throw new KafkaClientException($"no coordinator for group {group}: {error}");
            }
            await Task.Delay(200, token).ConfigureAwait(false);
        }
    }

    private static async Task<GroupView> DescribeAsync(KafkaClient client, string group, CancellationToken token)
    {
        var deadline = DateTime.UtcNow + CoordinatorWait;
        while (true)
        {
            var (coordinator, connection) = await CoordinatorAsync(client, group, token).ConfigureAwait(false);
            var described = (await connection.SendAsync<DescribeGroupsResponse>(new DescribeGroupsRequest { Groups = [group] }, cancellationToken: token).ConfigureAwait(false)).Groups.Single();
            var fetch = await connection.SendAsync<OffsetFetchResponse>(new OffsetFetchRequest
            {
                GroupId = group,
                Topics = null,
                Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = null }],
            }, cancellationToken: token).ConfigureAwait(false);
            short fetchError = fetch.Groups.Count > 0 ? fetch.Groups[0].ErrorCode : fetch.ErrorCode;
            short error = described.ErrorCode != 0 ? described.ErrorCode : fetchError;
            if (IsRetriable(error) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, token).ConfigureAwait(false);
                continue;
            }
            if (error != 0)
            {
                return new GroupView($"describe group {group}: {(ErrorCode)error}", "", coordinator, "", "", [], []);
            }
            var committed = fetch.Groups.Count > 0
                ? fetch.Groups[0].Topics.SelectMany(t => t.Partitions.Select(x => (t.Name, x.PartitionIndex, x.CommittedOffset))).ToList()
                : fetch.Topics.SelectMany(t => t.Partitions.Select(x => (t.Name, x.PartitionIndex, x.CommittedOffset))).ToList();
            var members = described.Members.Select(m => new MemberView(m.MemberId, m.ClientId, m.ClientHost,
                described.ProtocolType == "consumer" ? ConsumerProtocol.DecodeAssignment(m.MemberAssignment.Span) : [])).ToList();
            var owner = members.SelectMany(m => m.Assignment.Select(a => (a, m.MemberId))).ToDictionary(x => x.a, x => x.MemberId);
            var partitions = committed.Select(c => (c.Name, c.PartitionIndex)).Union(owner.Keys).Distinct().OrderBy(x => x.Item1, StringComparer.Ordinal).ThenBy(x => x.Item2).ToList();
            var offsets = new List<OffsetView>();
            foreach (var (t, partition) in partitions)
            {
                long logEnd = -1;
                try
                {
                    var latest = await client.ListOffsetsAsync(t, partition, KafkaClient.LatestTimestamp, cancellationToken: token).ConfigureAwait(false);
                    logEnd = latest.ErrorCode == 0 ? latest.Offset : -1;
                }
                catch (KafkaClientException)
                {
                }
                long commit = committed.Where(c => c.Name == t && c.PartitionIndex == partition).Select(c => c.CommittedOffset).DefaultIfEmpty(-1).First();
                offsets.Add(new OffsetView(t, partition, commit, logEnd, commit >= 0 && logEnd >= 0 ? Math.Max(0, logEnd - commit) : null, owner.GetValueOrDefault((t, partition))));
            }
            return new GroupView(null, described.GroupState, coordinator, described.ProtocolType, described.ProtocolData, members, offsets);
        }
    }

    // ------------------------------------------------------------------ consume --group

    /// <summary>
    /// <c>kraft consume TOPIC --group G</c>: a classic-protocol group member. It joins (range assignor when it
    /// leads), resumes from the group's committed offsets (else earliest with --from-beginning, latest otherwise),
    /// prints, commits what it printed, heartbeats, rejoins on a rebalance and leaves the group when done.
    /// </summary>
    public static async Task<int> ConsumeAsync(KafkaClient client, Output output, string topic, string group, bool fromBeginning, int limit, int idleMs, CancellationToken token)
    {
        var metadata = await client.MetadataAsync([topic], token).ConfigureAwait(false);
        var info = metadata.Topics.Single();
        if (info.ErrorCode != 0)
        {
            output.Fail($"unknown topic: {topic}");
            return ExitCodes.Failure;
        }
        var member = new GroupMember(client, group, topic, output);
        int seen = 0;
        var lastData = DateTime.UtcNow;
        try
        {
            while (seen < limit && !token.IsCancellationRequested)
            {
                if (member.NeedsJoin)
                {
                    await member.JoinAsync(fromBeginning, token).ConfigureAwait(false);
                    lastData = DateTime.UtcNow;
                }
                bool any = false;
                foreach (int partition in member.Positions.Keys.ToList())
                {
                    long from = member.Positions[partition];
                    var data = await client.FetchAsync(topic, partition, from, maxWaitMs: 200, cancellationToken: token).ConfigureAwait(false);
                    if (data.ErrorCode != 0)
                    {
                        client.InvalidateMetadata();
                        continue;
                    }
                    foreach (var (offset, k, v) in DataCommands.Records((data.Records ?? ReadOnlyMemory<byte>.Empty).ToArray(), from))
                    {
                        if (seen >= limit) break;
                        if (output.Json) output.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { partition, offset, key = k, value = v }));
                        else output.Out.WriteLine(v);
                        member.Positions[partition] = offset + 1;
                        seen++;
                        any = true;
                    }
                }
                if (any)
                {
                    lastData = DateTime.UtcNow;
                    await member.CommitAsync(token).ConfigureAwait(false);
                }
                else if (idleMs >= 0 && (DateTime.UtcNow - lastData).TotalMilliseconds > idleMs)
                {
                    break;
                }
                if (member.Positions.Count == 0)
                {
                    // No partitions assigned (more members than partitions): keep the session alive.
                    await Task.Delay(200, token).ConfigureAwait(false);
                }
                await member.MaybeHeartbeatAsync(token).ConfigureAwait(false);
            }
            await member.CommitAsync(token).ConfigureAwait(false);
        }
        finally
        {
            await member.LeaveAsync().ConfigureAwait(false);
        }
        return ExitCodes.Ok;
    }

    /// <summary>The state of one classic-protocol member. Single-threaded: used by the consume loop only.</summary>
    private sealed class GroupMember(KafkaClient client, string group, string topic, Output output)
    {
        private const int SessionTimeoutMs = 10_000;
        private KafkaConnection? _coordinator;
        private string _memberId = "";
        private int _generation = -1;
        private DateTime _lastHeartbeat = DateTime.MinValue;

        public bool NeedsJoin { get; private set; } = true;

        /// <summary>Assigned partitions and the next offset to read from each.</summary>
        public Dictionary<int, long> Positions { get; } = [];

        private async Task<KafkaConnection> CoordinatorConnectionAsync(CancellationToken token)
        {
            if (_coordinator is { IsAlive: true } live) return live;
            _coordinator = (await CoordinatorAsync(client, group, token).ConfigureAwait(false)).Connection;
            return _coordinator;
        }

        private void ForgetCoordinator(short error)
        {
            if (IsRetriable(error)) _coordinator = null;
        }

        public async Task JoinAsync(bool fromBeginning, CancellationToken token)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (true)
            {
                if (DateTime.UtcNow > deadline) throw new KafkaClientException($"could not join group {group}");
                var coordinator = await CoordinatorConnectionAsync(token).ConfigureAwait(false);
                var join = await SurviveCoordinatorLossAsync(coordinator, c => c.SendAsync<JoinGroupResponse>(new JoinGroupRequest
                {
                    GroupId = group,
                    SessionTimeoutMs = SessionTimeoutMs,
                    RebalanceTimeoutMs = SessionTimeoutMs,
                    MemberId = _memberId,
                    ProtocolType = "consumer",
                    Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = ConsumerProtocol.EncodeSubscription([topic]) }],
                }, cancellationToken: token), token).ConfigureAwait(false);
                if (join is null) continue;
                switch ((ErrorCode)join.ErrorCode)
                {
                    case ErrorCode.NONE:
                        break;
                    case ErrorCode.MEMBER_ID_REQUIRED:
                        _memberId = join.MemberId;
                        continue;
                    case ErrorCode.UNKNOWN_MEMBER_ID:
                        _memberId = "";
                        continue;
                    case ErrorCode.REBALANCE_IN_PROGRESS:
                        continue;
                    case var e when IsRetriable((short)e):
                        ForgetCoordinator((short)e);
                        await Task.Delay(200, token).ConfigureAwait(false);
                        continue;
                    default:
                        throw new KafkaClientException($"join group {group}: {(ErrorCode)join.ErrorCode}");
                }
                _memberId = join.MemberId;
                _generation = join.GenerationId;
                var assignments = new List<SyncGroupRequest.SyncGroupRequestAssignment>();
                if (join.Leader == join.MemberId)
                {
                    var metadata = await client.MetadataAsync([topic], token).ConfigureAwait(false);
                    int partitions = metadata.Topics.Single().Partitions.Count;
                    foreach (var (memberId, owned) in ConsumerProtocol.RangeAssign(join.Members.Select(m => (m.MemberId, ConsumerProtocol.DecodeSubscription(m.Metadata.Span))).ToList(), topic, partitions))
                    {
                        assignments.Add(new SyncGroupRequest.SyncGroupRequestAssignment { MemberId = memberId, Assignment = ConsumerProtocol.EncodeAssignment(topic, owned) });
                    }
                }
                var sync = await SurviveCoordinatorLossAsync(coordinator, c => c.SendAsync<SyncGroupResponse>(new SyncGroupRequest
                {
                    GroupId = group,
                    GenerationId = _generation,
                    MemberId = _memberId,
                    ProtocolType = "consumer",
                    ProtocolName = "range",
                    Assignments = assignments,
                }, cancellationToken: token), token).ConfigureAwait(false);
                if (sync is null) continue;
                if (sync.ErrorCode != 0)
                {
                    if ((ErrorCode)sync.ErrorCode == ErrorCode.UNKNOWN_MEMBER_ID) _memberId = "";
                    ForgetCoordinator(sync.ErrorCode);
                    continue;
                }
                var mine = ConsumerProtocol.DecodeAssignment(sync.Assignment.Span).Where(a => a.Topic == topic).Select(a => a.Partition).ToList();
                await ResumeAsync(coordinator, mine, fromBeginning, token).ConfigureAwait(false);
                NeedsJoin = false;
                _lastHeartbeat = DateTime.UtcNow;
                output.Err.WriteLine($"Joined group {group} (generation {_generation}): partitions {string.Join(',', mine)}");
                return;
            }
        }

        /// <summary>Starts each assigned partition at the committed offset, else earliest or latest (auto.offset.reset).</summary>
        private async Task ResumeAsync(KafkaConnection coordinator, List<int> partitions, bool fromBeginning, CancellationToken token)
        {
            Positions.Clear();
            if (partitions.Count == 0) return;
            var fetch = await coordinator.SendAsync<OffsetFetchResponse>(new OffsetFetchRequest
            {
                GroupId = group,
                Topics = [new OffsetFetchRequest.OffsetFetchRequestTopic { Name = topic, PartitionIndexes = partitions }],
                Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = [new OffsetFetchRequest.OffsetFetchRequestTopics { Name = topic, PartitionIndexes = partitions }] }],
            }, cancellationToken: token).ConfigureAwait(false);
            var committed = fetch.Groups.Count > 0
                ? fetch.Groups[0].Topics.SelectMany(t => t.Partitions).ToDictionary(x => x.PartitionIndex, x => x.CommittedOffset)
                : fetch.Topics.SelectMany(t => t.Partitions).ToDictionary(x => x.PartitionIndex, x => x.CommittedOffset);
            foreach (int partition in partitions)
            {
                long offset = committed.GetValueOrDefault(partition, -1);
                if (offset < 0)
                {
                    offset = (await client.ListOffsetsAsync(topic, partition, fromBeginning ? KafkaClient.EarliestTimestamp : KafkaClient.LatestTimestamp, cancellationToken: token).ConfigureAwait(false)).Offset;
                }
                Positions[partition] = offset;
            }
        }

        /// <summary>
        /// Runs one coordinator request; when the connection dies (the coordinator's broker went away) forgets it,
        /// waits briefly and returns null so that the caller rejoins through a fresh FindCoordinator.
        /// </summary>
        private async Task<T?> SurviveCoordinatorLossAsync<T>(KafkaConnection coordinator, Func<KafkaConnection, Task<T>> send, CancellationToken token) where T : class
        {
            try
            {
                return await send(coordinator).ConfigureAwait(false);
            }
            catch (Exception e) when (e is KafkaClientException or IOException or System.Net.Sockets.SocketException)
            {
                output.Err.WriteLine($"kraft: lost the coordinator of group {group} ({e.Message}); finding it again");
                _coordinator = null;
                NeedsJoin = true;
                await Task.Delay(300, token).ConfigureAwait(false);
                return null;
            }
        }

        public async Task CommitAsync(CancellationToken token)
        {
            if (NeedsJoin || Positions.Count == 0) return;
            var coordinator = await CoordinatorConnectionAsync(token).ConfigureAwait(false);
            var response = await SurviveCoordinatorLossAsync(coordinator, c => c.SendAsync<OffsetCommitResponse>(new OffsetCommitRequest
            {
                GroupId = group,
                GenerationIdOrMemberEpoch = _generation,
                MemberId = _memberId,
                Topics = [new OffsetCommitRequest.OffsetCommitRequestTopic
                {
                    Name = topic,
                    Partitions = Positions.Select(p => new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = p.Key, CommittedOffset = p.Value, CommittedMetadata = "" }).ToList(),
                }],
            }, cancellationToken: token), token).ConfigureAwait(false);
            if (response is null) return;
            var error = response.Topics.SelectMany(t => t.Partitions).Select(x => x.ErrorCode).FirstOrDefault(e => e != 0);
            if (error != 0)
            {
                output.Err.WriteLine($"kraft: commit for group {group} failed: {(ErrorCode)error}; rejoining");
                ForgetCoordinator(error);
                NeedsJoin = true;
            }
        }

        public async Task MaybeHeartbeatAsync(CancellationToken token)
        {
            if (NeedsJoin || DateTime.UtcNow - _lastHeartbeat < TimeSpan.FromMilliseconds(SessionTimeoutMs / 5)) return;
            var coordinator = await CoordinatorConnectionAsync(token).ConfigureAwait(false);
            var response = await SurviveCoordinatorLossAsync(coordinator, c => c.SendAsync<HeartbeatResponse>(new HeartbeatRequest { GroupId = group, GenerationId = _generation, MemberId = _memberId }, cancellationToken: token), token).ConfigureAwait(false);
            _lastHeartbeat = DateTime.UtcNow;
            if (response is null) return;
            if (response.ErrorCode == 0) return;
            if ((ErrorCode)response.ErrorCode == ErrorCode.REBALANCE_IN_PROGRESS)
            {
                // Commit what was printed before giving the partitions up.
                await CommitAsync(token).ConfigureAwait(false);
            }
            if ((ErrorCode)response.ErrorCode is ErrorCode.UNKNOWN_MEMBER_ID or ErrorCode.FENCED_INSTANCE_ID) _memberId = "";
            ForgetCoordinator(response.ErrorCode);
            NeedsJoin = true;
        }

        public async Task LeaveAsync()
        {
            if (_memberId.Length == 0 || _coordinator is not { IsAlive: true } coordinator) return;
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                await coordinator.SendAsync<LeaveGroupResponse>(new LeaveGroupRequest
                {
                    GroupId = group,
                    MemberId = _memberId,
                    Members = [new LeaveGroupRequest.MemberIdentity { MemberId = _memberId }],
                }, cancellationToken: timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is KafkaClientException or IOException or OperationCanceledException or System.Net.Sockets.SocketException)
            {
                // The session timeout removes the member anyway.
            }
        }
    }
}

/// <summary>
/// Kafka's consumer embedded protocol (ConsumerProtocolSubscription / ConsumerProtocolAssignment, version 0):
/// big-endian, string = int16 length + UTF-8, arrays = int32 count, user data = int32-length bytes (-1 = null).
/// Later versions only append fields, so reading the v0 prefix of a newer message is correct.
/// </summary>
public static class ConsumerProtocol
{
    public static byte[] EncodeSubscription(IReadOnlyList<string> topics)
    {
        var bytes = new List<byte>();
        Int16(bytes, 0);
        Int32(bytes, topics.Count);
        foreach (string t in topics) String(bytes, t);
        Int32(bytes, -1);
        return [.. bytes];
    }

    public static IReadOnlyList<string> DecodeSubscription(ReadOnlySpan<byte> data)
    {
        var topics = new List<string>();
        if (data.Length < 6) return topics;
        int at = 2;
        int count = BinaryPrimitives.ReadInt32BigEndian(data[at..]);
        at += 4;
        for (int i = 0; i < count && at + 2 <= data.Length; i++) topics.Add(ReadString(data, ref at));
        return topics;
    }

    public static byte[] EncodeAssignment(string topic, IReadOnlyList<int> partitions)
    {
        var bytes = new List<byte>();
        Int16(bytes, 0);
        Int32(bytes, 1);
        String(bytes, topic);
        Int32(bytes, partitions.Count);
        foreach (int p in partitions) Int32(bytes, p);
        Int32(bytes, -1);
        return [.. bytes];
    }

    public static IReadOnlyList<(string Topic, int Partition)> DecodeAssignment(ReadOnlySpan<byte> data)
    {
        var result = new List<(string, int)>();
        if (data.Length < 6) return result;
        int at = 2;
        int topics = BinaryPrimitives.ReadInt32BigEndian(data[at..]);
        at += 4;
        for (int i = 0; i < topics && at + 2 <= data.Length; i++)
        {
            string topic = ReadString(data, ref at);
            int count = BinaryPrimitives.ReadInt32BigEndian(data[at..]);
            at += 4;
            for (int j = 0; j < count; j++)
            {
                result.Add((topic, BinaryPrimitives.ReadInt32BigEndian(data[at..])));
                at += 4;
            }
        }
        return result;
    }

    /// <summary>Kafka's RangeAssignor for one topic: members sorted by id, each gets a contiguous range; the first ones one extra.</summary>
    public static IReadOnlyList<(string MemberId, IReadOnlyList<int> Partitions)> RangeAssign(IReadOnlyList<(string MemberId, IReadOnlyList<string> Topics)> members, string topic, int partitionCount)
    {
        var subscribed = members.Where(m => m.Topics.Contains(topic)).Select(m => m.MemberId).Order(StringComparer.Ordinal).ToList();
        var result = members.Select(m => m.MemberId).Where(id => !subscribed.Contains(id)).Select(id => (id, (IReadOnlyList<int>)[])).ToList();
        if (subscribed.Count == 0) return result;
        int per = partitionCount / subscribed.Count, extra = partitionCount % subscribed.Count, next = 0;
        for (int i = 0; i < subscribed.Count; i++)
        {
            int count = per + (i < extra ? 1 : 0);
            result.Add((subscribed[i], Enumerable.Range(next, count).ToList()));
            next += count;
        }
        return result;
    }

    private static void Int16(List<byte> bytes, short v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteInt16BigEndian(b, v); bytes.AddRange(b); }

    private static void Int32(List<byte> bytes, int v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteInt32BigEndian(b, v); bytes.AddRange(b); }

    private static void String(List<byte> bytes, string s)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(s);
        Int16(bytes, (short)utf8.Length);
        bytes.AddRange(utf8);
    }

    private static string ReadString(ReadOnlySpan<byte> data, ref int at)
    {
        short length = BinaryPrimitives.ReadInt16BigEndian(data[at..]);
        at += 2;
        if (length < 0) return "";
        string s = Encoding.UTF8.GetString(data.Slice(at, length));
        at += length;
        return s;
    }
}
