using Kraft.Linearizability.Edn;
using Kraft.Linearizability.Harness;
using Kraft.Linearizability.History;
using Kraft.Linearizability.Queue;
using Kraft.Protocol;

namespace Kraft.Linearizability.Tests.Harness;

/// <summary>
/// The partition nemesis's pure parts (which node pairs each kind cuts, the plan, the options passed into the
/// network namespace) and the queue workload's classification of produce errors. No root, no processes.
/// </summary>
public sealed class PartitionUnitTests
{
    private static HashSet<(int, int)> Cut(NemesisKind kind, int nodes, int target = 1, int shuffle = 7) => Grudge.For(kind, nodes, target, shuffle).ToHashSet();

    private static bool Connected(HashSet<(int, int)> cut, int a, int b) => !cut.Contains((a, b)) && !cut.Contains((b, a));

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void Isolating_a_node_cuts_it_off_both_ways_and_leaves_the_others_connected(int nodes)
    {
        var cut = Cut(NemesisKind.IsolateLeader, nodes, target: 2);
        Assert.Equal(2 * (nodes - 1), cut.Count);
        foreach (int other in Enumerable.Range(1, nodes).Where(n => n != 2))
        {
            Assert.Contains((2, other), cut);
            Assert.Contains((other, 2), cut);
        }

        Assert.True(Connected(cut, 1, 3));
        Assert.Equal(cut, Cut(NemesisKind.IsolateController, nodes, target: 2));
    }

    [Fact]
    public void A_one_way_partition_drops_only_packets_towards_the_target()
    {
        var cut = Cut(NemesisKind.PartitionOneWay, 3, target: 3);
        Assert.Equal([(1, 3), (2, 3)], cut.Order());
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Random_halves_split_the_nodes_into_a_minority_and_a_majority_that_cannot_talk(int nodes)
    {
        for (int shuffle = 0; shuffle < 20; shuffle++)
        {
            var cut = Cut(NemesisKind.PartitionHalves, nodes, shuffle: shuffle);

            // Nodes that reach each other form a side; there must be exactly two, of floor(n/2) and the rest.
            var sides = Enumerable.Range(1, nodes)
                .GroupBy(a => string.Join(',', Enumerable.Range(1, nodes).Where(b => a == b || Connected(cut, a, b))))
                .Select(g => g.ToList()).OrderBy(g => g.Count).ToList();
            Assert.Equal([nodes / 2, nodes - (nodes / 2)], sides.Select(g => g.Count));
            foreach (int a in sides[0])
            {
                Assert.All(sides[1], b => Assert.True(cut.Contains((a, b)) && cut.Contains((b, a))));
            }

            Assert.Equal(2 * (nodes / 2) * (nodes - (nodes / 2)), cut.Count);
        }

        Assert.NotEqual(Cut(NemesisKind.PartitionHalves, 5, shuffle: 1), Cut(NemesisKind.PartitionHalves, 5, shuffle: 2));
    }

    [Theory]
    [InlineData(3, 1)]
    [InlineData(5, 2)]
    public void A_bridge_leaves_exactly_one_node_connected_to_everybody(int nodes, int halfSize)
    {
        var cut = Cut(NemesisKind.PartitionBridge, nodes, shuffle: 3);
        var bridges = Enumerable.Range(1, nodes).Where(n => !cut.Any(p => p.Item1 == n || p.Item2 == n)).ToList();
        Assert.Single(bridges);
        Assert.Equal(2 * halfSize * (nodes - 1 - halfSize), cut.Count);
    }

    [Fact]
    public void The_partitions_alias_enables_every_partition_kind_and_the_options_round_trip_through_the_command_line()
    {
        var options = new RunOptions();
        Assert.Null(RunOptions.Parse(["--nemesis", "kill,partitions", "--acks", "1", "--unclean", "--time-limit", "12.5", "--seed", "9", "--dir", "/tmp/x", "--per-node-hosts"], options));
        Assert.Equal([NemesisKind.Kill, .. RunOptions.PartitionKinds], options.Nemesis);
        Assert.True(options.UsesPartitions);

        var again = new RunOptions();
        Assert.Null(RunOptions.Parse(options.ToArgs(), again));
        Assert.Equal(options.Nemesis, again.Nemesis);
        Assert.Equal((options.Acks, options.Unclean, options.TimeLimit, options.Seed, options.Dir, options.PerNodeHosts, options.Rate, options.NemesisInterval),
            (again.Acks, again.Unclean, again.TimeLimit, again.Seed, again.Dir, again.PerNodeHosts, again.Rate, again.NemesisInterval));
        Assert.False(new RunOptions { Nemesis = { NemesisKind.Kill, NemesisKind.Pause } }.UsesPartitions);
    }

    [Fact]
    public void The_planner_gives_partition_kinds_their_targets_and_is_reproducible()
    {
        List<PlannedFault?> Plan(int seed)
        {
            var planner = new NemesisPlanner(new Random(seed), RunOptions.PartitionKinds, 3, 4);
            return Enumerable.Range(0, 60).Select(_ => planner.Next()).ToList();
        }

        var plan = Plan(5);
        Assert.Equal(plan, Plan(5));
        Assert.All(plan.Where(f => f!.Kind == NemesisKind.IsolateLeader), f => Assert.NotNull(f!.LeaderOfPartition));
        Assert.All(plan.Where(f => f!.Kind == NemesisKind.IsolateController), f => Assert.True(f!.Node is null && f.LeaderOfPartition is null));
        Assert.True(plan.Where(f => f!.Kind is NemesisKind.PartitionHalves or NemesisKind.PartitionBridge).Select(f => f!.Shuffle).Distinct().Count() > 1);
        Assert.Equal(RunOptions.PartitionKinds.ToHashSet(), plan.Select(f => f!.Kind).ToHashSet());
    }

    [Theory]
    [InlineData(ErrorCode.NOT_ENOUGH_REPLICAS, true)]
    [InlineData(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, true)]
    [InlineData(ErrorCode.CORRUPT_MESSAGE, true)]
    [InlineData(ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND, false)]
    [InlineData(ErrorCode.REQUEST_TIMED_OUT, false)]
    [InlineData(ErrorCode.NOT_LEADER_OR_FOLLOWER, false)]
    [InlineData(ErrorCode.UNKNOWN_SERVER_ERROR, false)]
    public void Only_errors_answered_before_the_append_make_a_send_a_definite_failure(ErrorCode code, bool definite)
    {
        Assert.Equal(definite, QueueWorkload.IsDefinitelyNotAppended(code));
    }

    [Fact]
    public void A_polled_value_whose_send_failed_definitely_is_reported_as_an_aborted_read()
    {
        var recorder = new HistoryRecorder();
        recorder.Invoke(0, "send", EdnWriter.Vector(0L, 1L));
        recorder.Complete(0, EventType.Ok, "send", EdnWriter.Vector(0L, EdnWriter.Vector(0L, 1L)));
        recorder.Invoke(0, "send", EdnWriter.Vector(0L, 2L));
        recorder.Complete(0, EventType.Fail, "send", EdnWriter.Vector(0L, 2L), nameof(ErrorCode.NOT_ENOUGH_REPLICAS));
        recorder.Invoke(5, "assign", EdnWriter.Vector(0L));
        recorder.Complete(5, EventType.Ok, "assign", EdnWriter.Vector(0L));
        recorder.Invoke(5, "poll", null);
        recorder.Complete(5, EventType.Ok, "poll", new EdnMap([new(0L, EdnWriter.Vector(EdnWriter.Vector(0L, 1L), EdnWriter.Vector(1L, 2L)))]));
        var result = KafkaQueueChecker.Check(HistoryParser.Parse(HistoryWriter.ToEdn(recorder.Snapshot())));
        Assert.Contains("G1a", result.Anomalies.Keys);
    }
}
