using FsCheck;
using FsCheck.Fluent;
using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Tests.Controller;

public class RollbackTests
{
    [Fact]
    public void Losing_leadership_drops_uncommitted_changes_and_refuses_further_operations()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        MetadataImage committed = h.Image;

        // Two dependent operations decided before either commits: the second sees the first.
        CreateTopicResult created = Assert.Single(h.Propose(h.Controller.CreateTopics(new CreateTopicsRequest([new CreatableTopic("t", 1, 1)]), h.NowMs)));
        Assert.True(created.Error.IsSuccess);
        AlterConfigsResult altered = Assert.Single(h.Propose(h.Controller.IncrementalAlterConfigs(new IncrementalAlterConfigsRequest(
            [new AlterConfigsResource(ConfigResource.ForTopic("t"), [new AlterableConfig("retention.ms", AlterConfigOp.Set, "5")])]), h.NowMs)));
        Assert.True(altered.Error.IsSuccess);
        Assert.Equal(2, h.Controller.PendingBatchCount);
        Assert.NotNull(h.Controller.LatestImage.Topic("t"));

        h.Controller.ResetToCommitted();

        Assert.False(h.Controller.IsActive);
        Assert.Equal(0, h.Controller.PendingBatchCount);
        Assert.Equal(committed, h.Controller.LatestImage);
        Assert.Null(h.Controller.LatestImage.Topic("t"));
        ControllerResult<IReadOnlyList<CreateTopicResult>> refused = h.Controller.CreateTopics(new CreateTopicsRequest([new CreatableTopic("t", 1, 1)]), h.NowMs);
        Assert.Equal(ControllerErrorCode.NotController, refused.Response[0].Error.Code);
        Assert.Empty(refused.Records);
        Assert.Empty(h.Controller.Tick(h.NowMs + 100_000).Records);

        // Leading again, the controller decides from the committed image: the topic can be created anew.
        h.Controller.Activate(leaderEpoch: 2, h.NowMs);
        ControllerResult<IReadOnlyList<CreateTopicResult>> again = h.Controller.CreateTopics(new CreateTopicsRequest([new CreatableTopic("t", 1, 1)]), h.NowMs);
        Assert.True(again.Response[0].Error.IsSuccess);
    }

    [Fact]
    public void A_committed_batch_other_than_the_expected_one_voids_the_uncommitted_changes()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.Controller.CreateTopics(new CreateTopicsRequest([new CreatableTopic("mine", 1, 1)]), h.NowMs);
        Assert.Equal(1, h.Controller.PendingBatchCount);

        // Another leader's batch commits at the next offset instead.
        h.Controller.ReplayCommitted([new TopicRecord("theirs", new TopicId(Guid.NewGuid()))], h.NextOffset, 2);

        Assert.Equal(0, h.Controller.PendingBatchCount);
        Assert.Equal(h.Controller.CommittedImage, h.Controller.LatestImage);
        Assert.NotNull(h.Controller.LatestImage.Topic("theirs"));
        Assert.Null(h.Controller.LatestImage.Topic("mine"));
    }

    [Fact]
    public void A_new_leader_gives_every_broker_a_fresh_session()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.NowMs += 8_000;
        h.Controller.ResetToCommitted();
        h.Controller.Activate(leaderEpoch: 2, h.NowMs);

        h.NowMs += 5_000; // 13 s after broker 1's last heartbeat, 5 s into the new leader's term
        Assert.Empty(h.Controller.Tick(h.NowMs).Records);
        h.NowMs += 4_001;
        Assert.Equal([new BrokerId(1)], h.Run(h.Controller.Tick(h.NowMs)).FencedBrokers);
    }

    [Fact]
    public void The_previous_leaders_broker_gets_its_session_from_the_last_raft_contact_and_the_others_a_fresh_one()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        long timeout = new ControllerConfig().BrokerSessionTimeoutMs;
        long lastHeardFromNode1 = h.NowMs;
        h.NowMs += timeout / 4; // the election took a quarter of a session timeout
        h.Controller.ResetToCommitted();
        h.Controller.Activate(leaderEpoch: 2, h.NowMs, new BrokerContact(new BrokerId(1), lastHeardFromNode1));

        h.NowMs = lastHeardFromNode1 + timeout + 1; // one session timeout after node 1 went silent
        Assert.Equal([new BrokerId(1)], h.Run(h.Controller.Tick(h.NowMs)).FencedBrokers);
        h.NowMs += timeout / 4; // broker 2's fresh session, from the takeover, ends now
        Assert.Equal([new BrokerId(2)], h.Run(h.Controller.Tick(h.NowMs)).FencedBrokers);
    }

    [Fact]
    public void An_old_contact_still_leaves_a_live_broker_half_a_session_timeout_to_find_the_new_controller()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        long timeout = new ControllerConfig().BrokerSessionTimeoutMs;
        long longAgo = h.NowMs;
        h.NowMs += 10 * timeout;
        h.Controller.ResetToCommitted();
        h.Controller.Activate(leaderEpoch: 2, h.NowMs, new BrokerContact(new BrokerId(1), longAgo));

        h.NowMs += timeout / 2;
        Assert.Empty(h.Controller.Tick(h.NowMs).Records);
        h.NowMs += 1;
        Assert.Equal([new BrokerId(1)], h.Run(h.Controller.Tick(h.NowMs)).FencedBrokers);
    }

    [Fact]
    public void A_reassignment_started_by_one_leader_is_completed_by_the_next_one_from_a_snapshot()
    {
        var h = new ControllerHarness();
        for (int i = 1; i <= 4; i++)
        {
            h.AddLiveBroker(i);
        }

        TopicId id = h.CreateTopicWithLayout("t", [1, 2, 3]);
        h.Run(h.Controller.AlterPartitionReassignments([new ReassignmentTarget(new TopicPartitionName("t", 0), [new(4), new(2), new(3)])], h.NowMs));
        h.Controller.ResetToCommitted();

        var next = new QuorumController(new ControllerConfig(), MetadataImage.FromRecords(h.Image.ToRecords(), h.Image.LastAppliedOffset, 1));
        next.Activate(leaderEpoch: 2, h.NowMs);
        PartitionRegistration p = next.LatestImage.Topic("t")!.Partition(0)!;
        Assert.True(p.IsReassigning);
        ControllerResult<AlterPartitionReply> done = next.AlterPartition(new AlterPartitionRequest(new BrokerId(1), h.EpochOf(1),
            [new AlterPartitionItem(id, 0, p.LeaderEpoch, [new(1), new(2), new(3), new(4)], p.PartitionEpoch)]), h.NowMs);
        next.ReplayCommitted(done.Records, h.Image.LastAppliedOffset + 1, 2);
        PartitionRegistration after = next.CommittedImage.Topic("t")!.Partition(0)!;
        Assert.Equal(ValueList.Brokers(4, 2, 3), after.Replicas);
        Assert.Equal(new BrokerId(4), after.Leader);
        Assert.False(after.IsReassigning);
        Assert.Empty(next.CommittedImage.CheckConsistency());
    }

    [Fact]
    public void An_entry_without_metadata_records_only_advances_the_offset()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.Controller.CreateTopics(new CreateTopicsRequest([new CreatableTopic("mine", 1, 1)]), h.NowMs);
        h.Controller.ReplayCommitted([], 100, 1);
        Assert.Equal(1, h.Controller.PendingBatchCount);
        Assert.Equal(100, h.Controller.CommittedImage.LastAppliedOffset);
        Assert.NotNull(h.Controller.LatestImage.Topic("mine"));
        Assert.Throws<InvalidOperationException>(() => h.Controller.ReplayCommitted([], 100, 1));
    }

    [Fact]
    public void A_prefix_cut_inside_an_operation_can_be_inconsistent_which_is_why_batches_are_atomic()
    {
        var h = new ControllerHarness();
        h.AddLiveBroker(1);
        h.AddLiveBroker(2);
        h.CreateTopicWithLayout("t", [1, 2]);
        h.NowMs += 9_001;
        h.HeartbeatAllBut(1);
        ControllerResult<TickReport> fence = h.Controller.Tick(h.NowMs);
        Assert.True(fence.Records.Count >= 2);

        MetadataImage midBatch = h.Image.Replay(fence.Records[0]);
        Assert.NotEmpty(midBatch.CheckConsistency()); // the fenced broker still leads
        Assert.Empty(h.Image.ReplayAll(fence.Records).CheckConsistency());
    }
}

/// <summary>
/// The "failover in the middle of any operation" property: random operation sequences, with batches committed
/// at random points and leadership lost at random points (uncommitted batches dropped, the next controller
/// started from the committed log or from a snapshot of it). After every step the committed and latest images
/// are consistent and equal to replaying whole batches; at the end every batch-boundary prefix of the committed
/// log replays to a consistent image.
/// </summary>
public class FailoverPropertyTests
{
    [Fact]
    public void Random_operations_with_random_failovers_keep_every_batch_boundary_consistent()
    {
        Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(150),
            Prop.ForAll(Arb.From(Gen.ListOf(Gen.Choose(0, 1_000_000)).Select(l => l.ToArray())), ops =>
            {
                var sim = new Simulation();
                foreach (int op in ops)
                {
                    sim.Step(op);
                    sim.CheckInvariants();
                }

                sim.CommitAll();
                sim.CheckInvariants();
                sim.CheckEveryPrefix();
                return true;
            }));
    }

    [Fact]
    public void A_long_fixed_seed_run_exercises_every_operation()
    {
        var random = new Random(20261122);
        var sim = new Simulation();
        for (int i = 0; i < 6_000; i++)
        {
            sim.Step(random.Next(0, 1_000_000));
            sim.CheckInvariants();
        }

        sim.CommitAll();
        sim.CheckEveryPrefix();
        string[] expected =
        [
            "register", "heartbeat", "shutdown", "tick-fenced", "tick-rebalanced", "tick-unclean", "create", "delete", "alterPartition",
            "elect-Preferred", "elect-Unclean", "reassign", "config", "failover",
        ];
        Assert.True(expected.All(sim.Successes.Contains), "operations that succeeded at least once: " + string.Join(", ", sim.Successes));
    }

    private sealed class Simulation
    {
        private const int Brokers = 5;
        private readonly ControllerConfig _config = new() { LeaderImbalanceCheckIntervalSeconds = 1 };
        private readonly List<IReadOnlyList<MetadataRecord>> _committed = [];
        private MetadataImage _replayed = MetadataImage.Empty;
        private readonly Queue<IReadOnlyList<MetadataRecord>> _inflight = new();
        private readonly HashSet<int> _alive = [];
        private QuorumController _controller;
        private long _nowMs;
        private long _offset;
        private int _epoch = 1;
        private int _ids;
        private int _incarnations;

        public Simulation()
        {
            _controller = new QuorumController(_config, MetadataImage.Empty, NextId);
            _controller.Activate(_epoch, _nowMs);
        }

        public HashSet<string> Successes { get; } = [];

        private Guid NextId() => new(++_ids, 7, 7, new byte[8]);

        public void Step(int code)
        {
            int op = code % 16;
            int arg = code / 16;
            MetadataImage latest = _controller.LatestImage;
            var partitions = latest.AllPartitions().ToList();
            var topics = latest.TopicsByName.Keys.Order(StringComparer.Ordinal).ToList();
            switch (op)
            {
                case 0:
                case 1:
                {
                    int id = 1 + (arg % Brokers);
                    _alive.Add(id);
                    Propose("register", _controller.RegisterBroker(new BrokerRegistrationRequest(new BrokerId(id), new Guid(++_incarnations, 1, 1, new byte[8]),
                        [new BrokerEndpoint("PLAINTEXT", "h", 9092, SecurityProtocol.Plaintext)], $"rack{id % 3}"), _nowMs), r => r.Error.IsSuccess);
                    break;
                }

                case 2:
                case 3:
                    HeartbeatAlive(wantShutDown: false, shutDownId: -1);
                    break;
                case 4:
                    HeartbeatAlive(wantShutDown: true, shutDownId: 1 + (arg % Brokers));
                    _alive.Remove(1 + (arg % Brokers));
                    break;
                case 5:
                    _alive.Remove(1 + (arg % Brokers)); // a crash: heartbeats stop
                    break;
                case 6:
                    _nowMs += arg % 12_000;
                {
                    ControllerResult<TickReport> tick = _controller.Tick(_nowMs);
                    Propose("tick-fenced", tick, r => r.FencedBrokers.Count > 0);
                    Successes.Add(tick.Response.RebalancedPartitions > 0 ? "tick-rebalanced" : "tick");
                    Successes.Add(tick.Response.UncleanElections > 0 ? "tick-unclean" : "tick");
                }

                    break;
                case 7:
                    Propose("create", _controller.CreateTopics(new CreateTopicsRequest(
                        [new CreatableTopic($"t{arg % 6}", 1 + (arg / 6 % 4), (short)(1 + (arg / 24 % 3)))]), _nowMs), r => r[0].Error.IsSuccess);
                    break;
                case 8:
                    if (topics.Count > 0)
                    {
                        Propose("delete", _controller.DeleteTopics(new DeleteTopicsRequest([topics[arg % topics.Count]]), _nowMs), r => r[0].Error.IsSuccess);
                    }

                    break;
                case 9:
                case 10:
                {
                    // Expansions go to partitions that have a caught-up replica outside the ISR, as a leader would.
                    var candidates = arg % 3 == 0 ? partitions : partitions.Where(x => x.Registration.HasLeader && ExpandedIsr(x.Registration).Count != x.Registration.Isr.Count).ToList();
                    if (candidates.Count > 0)
                    {
                        AlterIsr(candidates[arg / 3 % candidates.Count], arg);
                    }
                }


                    break;
                case 11:
                    if (partitions.Count > 0)
                    {
                        var type = (ElectionType)(arg / 7 % 2);
                        // Unclean elections only matter for leaderless partitions: pick one when there is one.
                        var leaderless = partitions.Where(x => !x.Registration.HasLeader).ToList();
                        var (topic, index, _) = type == ElectionType.Unclean && leaderless.Count > 0 ? leaderless[arg % leaderless.Count] : partitions[arg % partitions.Count];
                        Propose($"elect-{type}", _controller.ElectLeaders(new ElectLeadersRequest(type, [new TopicPartitionName(topic.Name, index)]), _nowMs),
                            r => r[0].Error.IsSuccess);
                    }

                    break;
                case 12:
                    if (partitions.Count > 0)
                    {
                        var (topic, index, p) = partitions[arg % partitions.Count];
                        IReadOnlyList<BrokerId>? target = arg / 3 % 4 == 0 ? null
                            : Enumerable.Range(1, Brokers).OrderBy(b => (b * 7919 + arg) % 13).Take(1 + (arg / 13 % 3)).Select(b => new BrokerId(b)).ToList();
                        if (target is null || target.All(b => latest.Broker(b) is not null))
                        {
                            Propose("reassign", _controller.AlterPartitionReassignments([new ReassignmentTarget(new TopicPartitionName(topic.Name, index), target)], _nowMs),
                                r => r[0].Error.IsSuccess);
                        }
                    }

                    break;
                case 13:
                {
                    ConfigResource resource = topics.Count > 0 && arg % 2 == 0 ? ConfigResource.ForTopic(topics[arg / 2 % topics.Count]) : ConfigResource.Cluster;
                    const string key = "unclean.leader.election.enable";
                    Propose("config", _controller.IncrementalAlterConfigs(new IncrementalAlterConfigsRequest(
                        [new AlterConfigsResource(resource, [new AlterableConfig(key, arg / 4 % 3 == 0 ? AlterConfigOp.Delete : AlterConfigOp.Set, arg / 12 % 2 == 0 ? "true" : "false")])]), _nowMs),
                        r => r[0].Error.IsSuccess);
                    break;
                }

                case 14:
                    CommitSome(1 + (arg % 3));
                    break;
                case 15:
                    if (arg % 3 == 0)
                    {
                        Failover(fromSnapshot: arg % 2 == 0);
                    }
                    else
                    {
                        CommitSome(_inflight.Count);
                    }

                    break;
            }
        }

        private void HeartbeatAlive(bool wantShutDown, int shutDownId)
        {
            foreach (BrokerRegistration b in _controller.LatestImage.Brokers.Values)
            {
                if (_alive.Contains(b.Id.Value))
                {
                    bool shut = wantShutDown && b.Id.Value == shutDownId;
                    Propose(shut ? "shutdown" : "heartbeat", _controller.BrokerHeartbeat(new BrokerHeartbeatRequest(b.Id, b.BrokerEpoch, long.MaxValue, WantShutDown: shut), _nowMs),
                        r => r.Error.IsSuccess && (shut ? r.ShouldShutDown : !r.IsFenced));
                }
            }
        }

        private void AlterIsr((TopicImage Topic, int Index, PartitionRegistration P) x, int choice)
        {
            PartitionRegistration p = x.P;
            if (!p.HasLeader)
            {
                return;
            }

            BrokerRegistration leader = _controller.LatestImage.Broker(p.Leader)!;
            List<BrokerId> isr = choice % 3 == 0 ? [p.Leader] : ExpandedIsr(p);
            // Sometimes the leader decides on the committed view, which may be stale.
            PartitionRegistration view = choice % 5 == 0 ? _controller.CommittedImage.Partition(new TopicIdPartition(x.Topic.Id, x.Index)) ?? p : p;
            Propose("alterPartition", _controller.AlterPartition(new AlterPartitionRequest(p.Leader, leader.BrokerEpoch,
                [new AlterPartitionItem(x.Topic.Id, x.Index, view.LeaderEpoch, isr, view.PartitionEpoch)]), _nowMs), r => r.Partitions[0].Error.IsSuccess);
        }

        private List<BrokerId> ExpandedIsr(PartitionRegistration p) =>
            [p.Leader, .. p.Replicas.Where(b => b != p.Leader && _controller.IsEligible(_controller.LatestImage, b) && _alive.Contains(b.Value))];

        private void Propose<T>(string name, ControllerResult<T> result, Func<T, bool> succeeded)
        {
            if (succeeded(result.Response))
            {
                Successes.Add(name);
            }

            if (result.Records.Count > 0)
            {
                _inflight.Enqueue(result.Records);
            }
        }

        private void CommitSome(int count)
        {
            for (int i = 0; i < count && _inflight.Count > 0; i++)
            {
                IReadOnlyList<MetadataRecord> batch = _inflight.Dequeue();
                // The driver writes the batch as one Raft entry; here it also goes through the byte codec.
                IReadOnlyList<MetadataRecord> decoded = MetadataRecordCodec.DecodeBatch(MetadataRecordCodec.EncodeBatch(batch));
                _controller.ReplayCommitted(decoded, _offset++, _epoch);
                _committed.Add(decoded);
                _replayed = _replayed.ReplayAll(decoded);
            }
        }

        public void CommitAll() => CommitSome(_inflight.Count);

        private void Failover(bool fromSnapshot)
        {
            Successes.Add("failover");
            _inflight.Clear();
            _controller.ResetToCommitted();
            _epoch++;
            if (fromSnapshot)
            {
                MetadataImage snapshot = MetadataImage.FromRecords(_controller.CommittedImage.ToRecords(), _offset - 1, _epoch - 1);
                _controller = new QuorumController(_config, snapshot, NextId);
            }

            _controller.Activate(_epoch, _nowMs);
        }

        public void CheckInvariants()
        {
            Assert.Equal(_replayed.ToRecords(), _controller.CommittedImage.ToRecords());
            Assert.Equal(_replayed.ReplayAll(_inflight.SelectMany(b => b)).ToRecords(), _controller.LatestImage.ToRecords());
            Assert.Empty(_controller.CommittedImage.CheckConsistency());
            Assert.Empty(_controller.LatestImage.CheckConsistency());
        }

        public void CheckEveryPrefix()
        {
            MetadataImage image = MetadataImage.Empty;
            foreach (IReadOnlyList<MetadataRecord> batch in _committed)
            {
                image = image.ReplayAll(batch);
                Assert.Empty(image.CheckConsistency());
            }
        }
    }
}
