using Kraft.Broker.Cluster;
using Kraft.Broker.Groups;
using Kraft.Broker.Groups.Coordinator;
using Kraft.Broker.Network;
using Kraft.Broker.Replication;
using Kraft.Protocol;
using Kraft.Protocol.Framing;
using Kraft.Storage.Log;
using Microsoft.Extensions.Logging.Abstractions;
using Wire = Kraft.Protocol.Messages;

namespace Kraft.Broker.Tests.GroupsWire;

/// <summary>A clock the test moves by hand; timers (used only for bounded waits) still run on real time.</summary>
internal sealed class ManualClock(long startMs) : TimeProvider
{
    public long NowMs { get; set; } = startMs;

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(NowMs);
}

/// <summary>
/// One broker (id 1) with real partition logs on disk: __consumer_offsets (2 partitions) and "orders" (2 partitions),
/// all led here with a single-replica ISR, so acks=all completes on the local append.
/// </summary>
internal sealed class CoordinatorFixture : IAsyncDisposable
{
    public const string Offsets = GroupCoordinatorService.OffsetsTopic;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "kraft-gwire-" + Guid.NewGuid().ToString("N"));
    private ClusterView _view;

    private readonly GroupCoordinatorConfig _config;

    public CoordinatorFixture(bool withOffsetsTopic = true, int initialRebalanceDelayMs = 0)
    {
        _config = Config with { Groups = new GroupConfig { GroupInitialRebalanceDelayMs = initialRebalanceDelayMs } };
        Replicas = new ReplicaManager(1, _directory, _ => new LogConfig(), new ReplicationConfig(), Clock, (_, _) => { });
        _view = View(withOffsetsTopic ? 1 : -2, epoch: 0);
        Replicas.Apply(_view);
        Service = NewService();
    }

    public ManualClock Clock { get; } = new(1_700_000_000_000);
    public ReplicaManager Replicas { get; }
    public GroupCoordinatorService Service { get; private set; }
    public List<Wire.CreateTopicsRequest> CreateRequests { get; } = [];
    public ClusterView CurrentView => Volatile.Read(ref _view);

    public static GroupCoordinatorConfig Config { get; } = new()
    {
        OffsetsTopicNumPartitions = 2,
        OffsetsTopicReplicationFactor = 3,
        TopicPropagationWaitMs = 0,
        Groups = new GroupConfig { GroupInitialRebalanceDelayMs = 0 },
    };

    public GroupCoordinatorService NewService() =>
        new(1, _config, () => CurrentView, Replicas, _ => 1, (request, _) =>
        {
            CreateRequests.Add(request);
            return Task.FromResult(new Wire.CreateTopicsResponse { Topics = [new Wire.CreateTopicsResponse.CreatableTopicResult { Name = request.Topics[0].Name }] });
        }, Clock, NullLogger.Instance);

    /// <summary>A view where <paramref name="offsetsLeader"/> leads every offsets partition (-2: no offsets topic).</summary>
    public static ClusterView View(int offsetsLeader, int epoch)
    {
        var brokers = new Dictionary<int, BrokerInfo>
        {
            [1] = new(1, "127.0.0.1", 9001, null, false),
            [2] = new(2, "127.0.0.1", 9002, null, false),
        };
        var topics = new Dictionary<string, TopicInfo>
        {
            ["orders"] = new("orders", Guid.NewGuid(), [new PartitionInfo("orders", 0, 1, 0, 0, [1], [1]), new PartitionInfo("orders", 1, 1, 0, 0, [1], [1])]),
        };
        if (offsetsLeader != -2)
        {
            topics[Offsets] = new(Offsets, Guid.NewGuid(),
                [.. Enumerable.Range(0, 2).Select(p => new PartitionInfo(Offsets, p, offsetsLeader, epoch, epoch, [1, 2], offsetsLeader == 1 ? [1] : [2]))], IsInternal: true);
        }
        return new ClusterView("c", 1, brokers, topics);
    }

    public void Apply(ClusterView view)
    {
        Volatile.Write(ref _view, view);
        Replicas.Apply(view);
    }

    public async Task LoadAsync()
    {
        await Service.ReconcileAsync();
        await Service.WhenLoadedAsync(0);
        await Service.WhenLoadedAsync(1);
    }

    /// <summary>Replaces the service by a fresh one over the same logs: what a new coordinator does after failover.</summary>
    public async Task RestartServiceAsync()
    {
        await Service.DisposeAsync();
        Service = NewService();
        await LoadAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Service.DisposeAsync();
        Replicas.Dispose();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    /// <summary>A group id whose offsets partition (of 2) is <paramref name="partition"/>.</summary>
    public static string GroupOn(int partition, string prefix = "group") =>
        Enumerable.Range(0, 100).Select(i => $"{prefix}-{i}").First(g => GroupPartitioner.PartitionFor(g, 2) == partition);
}

public class GroupCoordinatorServiceTests
{
    private static JoinGroupRequest Join(string group, string memberId = "") =>
        new(group, 10_000, 10_000, memberId, null, "consumer", [new JoinGroupProtocol("range", [1, 2, 3])], ApiVersion: 3);

    /// <summary>Joins one member, ends the join phase with a tick and syncs: the group is Stable at generation 1.</summary>
    private static async Task<(string MemberId, int Generation)> JoinAndSyncAsync(CoordinatorFixture f, string group)
    {
        var joining = f.Service.JoinGroupAsync(Join(group), CancellationToken.None);
        await f.Service.TickAsync();
        var joined = await joining;
        Assert.Equal(GroupErrorCode.NONE, joined.ErrorCode);
        Assert.Equal(joined.MemberId, joined.Leader);
        var synced = await f.Service.SyncGroupAsync(new SyncGroupRequest(group, joined.GenerationId, joined.MemberId, null, [new SyncGroupAssignment(joined.MemberId, [9, 9])]), CancellationToken.None);
        Assert.Equal(GroupErrorCode.NONE, synced.ErrorCode);
        Assert.Equal(new byte[] { 9, 9 }, synced.Assignment);
        return (joined.MemberId, joined.GenerationId);
    }

    [Fact]
    public async Task Committed_offsets_and_the_stable_group_come_back_when_a_new_coordinator_loads_the_log()
    {
        await using var f = new CoordinatorFixture();
        await f.LoadAsync();
        string group = CoordinatorFixture.GroupOn(1);
        var (member, generation) = await JoinAndSyncAsync(f, group);

        var commit = await f.Service.CommitOffsetsAsync(new OffsetCommitRequest(group, generation, member, null,
            [new OffsetCommitPartition("orders", 0, 42, 0, "m"), new OffsetCommitPartition("orders", 1, 7)]), CancellationToken.None);
        Assert.All(commit.Partitions, p => Assert.Equal(GroupErrorCode.NONE, p.ErrorCode));
        var fetched = await f.Service.FetchOffsetsAsync(new OffsetFetchRequest(group, null), CancellationToken.None);
        Assert.Equal(new long[] { 42, 7 }, fetched.Partitions.Select(p => p.CommittedOffset));

        // The records are in the offsets partition the group maps to, and nowhere else.
        Assert.True(f.Replicas.Get(CoordinatorFixture.Offsets, 1)!.Log.LogEndOffset >= 3);
        Assert.Equal(0, f.Replicas.Get(CoordinatorFixture.Offsets, 0)!.Log.LogEndOffset);

        await f.RestartServiceAsync();
        var reloaded = await f.Service.FetchOffsetsAsync(new OffsetFetchRequest(group, null), CancellationToken.None);
        Assert.Equal(new[] { ("orders", 0, 42L, "m"), ("orders", 1, 7L, "") }, reloaded.Partitions.Select(p => (p.Topic, p.Partition, p.CommittedOffset, p.Metadata)));
        var described = await f.Service.DescribeGroupAsync(group, CancellationToken.None);
        Assert.Equal("Stable", described.GroupState);
        Assert.Equal(member, Assert.Single(described.Members).MemberId);
        // The member keeps working without rejoining: its generation is still valid.
        Assert.Equal(GroupErrorCode.NONE, await f.Service.HeartbeatAsync(new HeartbeatRequest(group, generation, member), CancellationToken.None));
    }

    [Fact]
    public async Task A_commit_is_not_answered_before_its_append_and_a_lost_leader_answers_NOT_COORDINATOR()
    {
        await using var f = new CoordinatorFixture();
        await f.LoadAsync();
        string group = CoordinatorFixture.GroupOn(0);
        // The partition is led here but a follower (2) is in the ISR and never fetches: acks=all cannot complete.
        f.Apply(CoordinatorFixture.View(1, 0) with
        {
            Topics = new Dictionary<string, TopicInfo>(CoordinatorFixture.View(1, 0).Topics)
            {
                [CoordinatorFixture.Offsets] = new(CoordinatorFixture.Offsets, Guid.NewGuid(),
                    [new PartitionInfo(CoordinatorFixture.Offsets, 0, 1, 0, 1, [1, 2], [1, 2]), new PartitionInfo(CoordinatorFixture.Offsets, 1, 1, 0, 1, [1, 2], [1])]),
            },
        });
        var commit = f.Service.CommitOffsetsAsync(new OffsetCommitRequest(group, -1, "", null, [new OffsetCommitPartition("orders", 0, 5)]), CancellationToken.None);
        Assert.False(commit.IsCompleted);
        var pending = await f.Service.FetchOffsetsAsync(new OffsetFetchRequest(group, [new TopicPartition("orders", 0)], RequireStable: true), CancellationToken.None);
        Assert.Equal(GroupErrorCode.UNSTABLE_OFFSET_COMMIT, Assert.Single(pending.Partitions).ErrorCode);

        // Leadership moves to broker 2: the waiting commit fails, the shard unloads, new requests are refused.
        f.Apply(CoordinatorFixture.View(2, 1));
        await f.Service.ReconcileAsync();
        var answer = await commit;
        Assert.Equal(GroupErrorCode.NOT_COORDINATOR, Assert.Single(answer.Partitions).ErrorCode);
        var refused = await f.Service.FetchOffsetsAsync(new OffsetFetchRequest(group, null), CancellationToken.None);
        Assert.Equal(GroupErrorCode.NOT_COORDINATOR, refused.ErrorCode);
        Assert.False(f.Service.IsLoaded(0));
    }

    [Fact]
    public async Task Losing_leadership_answers_a_waiting_join_with_NOT_COORDINATOR()
    {
        await using var f = new CoordinatorFixture(initialRebalanceDelayMs: 3_000);
        await f.LoadAsync();
        string group = CoordinatorFixture.GroupOn(1);
        var joining = f.Service.JoinGroupAsync(Join(group), CancellationToken.None);
        Assert.False(joining.IsCompleted);
        f.Apply(CoordinatorFixture.View(2, 1));
        await f.Service.ReconcileAsync();
        Assert.Equal(GroupErrorCode.NOT_COORDINATOR, (await joining).ErrorCode);
    }

    [Fact]
    public async Task Before_loading_requests_get_COORDINATOR_LOAD_IN_PROGRESS_and_groups_led_elsewhere_NOT_COORDINATOR()
    {
        await using var f = new CoordinatorFixture();
        // Led here, but the coordinator has not picked the partition up yet.
        var early = await f.Service.HeartbeatAsync(new HeartbeatRequest(CoordinatorFixture.GroupOn(0), 1, "m"), CancellationToken.None);
        Assert.Equal(GroupErrorCode.COORDINATOR_LOAD_IN_PROGRESS, early);

        f.Apply(CoordinatorFixture.View(2, 1));
        await f.LoadAsync();
        var elsewhere = await f.Service.HeartbeatAsync(new HeartbeatRequest(CoordinatorFixture.GroupOn(0), 1, "m"), CancellationToken.None);
        Assert.Equal(GroupErrorCode.NOT_COORDINATOR, elsewhere);
    }

    [Fact]
    public async Task FindCoordinator_creates_the_offsets_topic_with_replication_lowered_to_the_live_brokers()
    {
        await using var f = new CoordinatorFixture(withOffsetsTopic: false);
        var lookup = await f.Service.FindCoordinatorAsync("g", CancellationToken.None);
        Assert.Equal(GroupErrorCode.COORDINATOR_NOT_AVAILABLE, lookup.Error);
        var request = Assert.Single(f.CreateRequests);
        var topic = Assert.Single(request.Topics);
        Assert.Equal(CoordinatorFixture.Offsets, topic.Name);
        Assert.Equal(2, topic.NumPartitions);
        Assert.Equal(2, topic.ReplicationFactor); // offsets.topic.replication.factor 3, two live brokers

        f.Apply(CoordinatorFixture.View(2, 0));
        var found = await f.Service.FindCoordinatorAsync("g", CancellationToken.None);
        Assert.Equal(new CoordinatorLookup(GroupErrorCode.NONE, 2, "127.0.0.1", 9002), found);
        Assert.Single(f.CreateRequests);
    }

    [Fact]
    public async Task Expired_sessions_are_removed_by_the_timer_and_the_empty_group_is_persisted()
    {
        await using var f = new CoordinatorFixture();
        await f.LoadAsync();
        string group = CoordinatorFixture.GroupOn(1);
        var (member, _) = await JoinAndSyncAsync(f, group);
        f.Clock.NowMs += 10_001;
        await f.Service.TickAsync();
        var described = await f.Service.DescribeGroupAsync(group, CancellationToken.None);
        Assert.Equal("Empty", described.GroupState);
        Assert.Equal(GroupErrorCode.UNKNOWN_MEMBER_ID, await f.Service.HeartbeatAsync(new HeartbeatRequest(group, 1, member), CancellationToken.None));

        await f.Service.DrainAsync();
        await f.RestartServiceAsync();
        Assert.Equal("Empty", (await f.Service.DescribeGroupAsync(group, CancellationToken.None)).GroupState);
    }
}

public class GroupRequestHandlerTests
{
    private static async Task<T> Send<T>(GroupRequestHandler handler, Wire.IRequestMessage message, short version) where T : class
    {
        var request = new DecodedRequest(new RequestHeader(message.ApiKey, version, 1, "test-client"), message, ReadOnlyMemory<byte>.Empty);
        var response = await handler.HandleAsync(request, new ConnectionInfo(1, new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 5555)), CancellationToken.None);
        return Assert.IsType<T>(response);
    }

    [Fact]
    public async Task FindCoordinator_answers_single_keys_before_v4_and_batches_from_v4()
    {
        await using var f = new CoordinatorFixture();
        var handler = new GroupRequestHandler(f.Service, () => f.CurrentView);
        var v3 = await Send<Wire.FindCoordinatorResponse>(handler, new Wire.FindCoordinatorRequest { Key = "g1" }, 3);
        Assert.Equal((0, 1, "127.0.0.1", 9001), (v3.ErrorCode, v3.NodeId, v3.Host, v3.Port));

        var v4 = await Send<Wire.FindCoordinatorResponse>(handler, new Wire.FindCoordinatorRequest { CoordinatorKeys = ["a", "b"] }, 4);
        Assert.Equal(new[] { "a", "b" }, v4.Coordinators.Select(c => c.Key));
        Assert.All(v4.Coordinators, c => Assert.Equal(1, c.NodeId));

        var txn = await Send<Wire.FindCoordinatorResponse>(handler, new Wire.FindCoordinatorRequest { Key = "t", KeyType = 1 }, 3);
        Assert.Equal((short)GroupErrorCode.INVALID_REQUEST, txn.ErrorCode);
    }

    [Fact]
    public async Task A_v0_client_joins_syncs_commits_and_fetches_and_a_v8_fetch_answers_each_group()
    {
        await using var f = new CoordinatorFixture();
        await f.LoadAsync();
        var handler = new GroupRequestHandler(f.Service, () => f.CurrentView);
        string group = CoordinatorFixture.GroupOn(0);

        // JoinGroup v0 has no rebalance timeout: the session timeout stands in for it.
        var joining = Send<Wire.JoinGroupResponse>(handler, new Wire.JoinGroupRequest
        {
            GroupId = group, SessionTimeoutMs = 10_000, ProtocolType = "consumer",
            Protocols = [new Wire.JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = new byte[] { 1 } }],
        }, 0);
        await f.Service.TickAsync();
        var joined = await joining;
        Assert.Equal(0, joined.ErrorCode);
        Assert.Equal("range", joined.ProtocolName);

        var synced = await Send<Wire.SyncGroupResponse>(handler, new Wire.SyncGroupRequest
        {
            GroupId = group, GenerationId = joined.GenerationId, MemberId = joined.MemberId,
            Assignments = [new Wire.SyncGroupRequest.SyncGroupRequestAssignment { MemberId = joined.MemberId, Assignment = new byte[] { 4 } }],
        }, 0);
        Assert.Equal(new byte[] { 4 }, synced.Assignment.ToArray());

        var committed = await Send<Wire.OffsetCommitResponse>(handler, new Wire.OffsetCommitRequest
        {
            GroupId = group, GenerationIdOrMemberEpoch = joined.GenerationId, MemberId = joined.MemberId,
            Topics =
            [
                new Wire.OffsetCommitRequest.OffsetCommitRequestTopic { Name = "orders", Partitions = [new() { PartitionIndex = 1, CommittedOffset = 11 }] },
                new Wire.OffsetCommitRequest.OffsetCommitRequestTopic { Name = "missing", Partitions = [new() { PartitionIndex = 0, CommittedOffset = 1 }] },
            ],
        }, 2);
        Assert.Equal(0, committed.Topics.Single(t => t.Name == "orders").Partitions.Single().ErrorCode);
        Assert.Equal((short)GroupErrorCode.UNKNOWN_TOPIC_OR_PARTITION, committed.Topics.Single(t => t.Name == "missing").Partitions.Single().ErrorCode);

        var v1 = await Send<Wire.OffsetFetchResponse>(handler, new Wire.OffsetFetchRequest
        {
            GroupId = group, Topics = [new Wire.OffsetFetchRequest.OffsetFetchRequestTopic { Name = "orders", PartitionIndexes = [0, 1] }],
        }, 1);
        Assert.Equal(new long[] { -1, 11 }, v1.Topics.Single().Partitions.OrderBy(p => p.PartitionIndex).Select(p => p.CommittedOffset));

        string elsewhere = "not-led-" + Guid.NewGuid().ToString("N");
        f.Apply(CoordinatorFixture.View(1, 0) with
        {
            Topics = new Dictionary<string, TopicInfo>(f.CurrentView.Topics)
            {
                [CoordinatorFixture.Offsets] = new(CoordinatorFixture.Offsets, Guid.NewGuid(),
                    [new PartitionInfo(CoordinatorFixture.Offsets, 0, 1, 0, 0, [1, 2], [1]), new PartitionInfo(CoordinatorFixture.Offsets, 1, 2, 1, 1, [1, 2], [2])]),
            },
        });
        await f.Service.ReconcileAsync();
        string otherGroup = CoordinatorFixture.GroupOn(1, elsewhere);
        var v8 = await Send<Wire.OffsetFetchResponse>(handler, new Wire.OffsetFetchRequest
        {
            Groups =
            [
                new Wire.OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = null },
                new Wire.OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = otherGroup, Topics = null },
            ],
        }, 8);
        Assert.Equal(0, v8.Groups[0].ErrorCode);
        Assert.Equal(11L, v8.Groups[0].Topics.Single().Partitions.Single().CommittedOffset);
        Assert.Equal((short)GroupErrorCode.NOT_COORDINATOR, v8.Groups[1].ErrorCode);

        // LeaveGroup v0: one member, its error at the top level; leaving twice is UNKNOWN_MEMBER_ID.
        var left = await Send<Wire.LeaveGroupResponse>(handler, new Wire.LeaveGroupRequest { GroupId = group, MemberId = joined.MemberId }, 0);
        Assert.Equal(0, left.ErrorCode);
        var again = await Send<Wire.LeaveGroupResponse>(handler, new Wire.LeaveGroupRequest { GroupId = group, MemberId = joined.MemberId }, 0);
        Assert.Equal((short)GroupErrorCode.UNKNOWN_MEMBER_ID, again.ErrorCode);

        var listed = await Send<Wire.ListGroupsResponse>(handler, new Wire.ListGroupsRequest(), 4);
        Assert.Equal(group, Assert.Single(listed.Groups).GroupId);
        Assert.Equal("Empty", listed.Groups[0].GroupState);
    }
}
