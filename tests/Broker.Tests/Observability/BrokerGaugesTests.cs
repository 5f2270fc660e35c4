using System.Diagnostics.Metrics;
using Kraft.Broker.Cluster;
using Kraft.Broker.Groups;
using Kraft.Broker.Observability;
using Kraft.Quorum.Controller;
using Kraft.Quorum.Raft;
using Kraft.Quorum.RaftDriver;
using Kraft.Storage;

namespace Kraft.Broker.Tests.Observability;

/// <summary>
/// The broker's scrape-time gauges (under-min-ISR partitions, consumer lag), the per-node meter filter, and the
/// exposition of every instrument added for issue #10 through the real exporter and the strict parser: names,
/// types, units in seconds, labels (escaped) and the kraft_node_id label of per-node meters. Node ids 9001/9002 are
/// used so that in-process clusters of other tests (nodes 1..3) never show up in these exporters.
/// </summary>
public sealed class BrokerGaugesTests
{
    private static PartitionInfo P(string topic, int index, int leader, int[] replicas, int[] isr) => new(topic, index, leader, 1, 1, replicas, isr);

    private static ClusterView View(params TopicInfo[] topics) =>
        new("c", 1, new Dictionary<int, BrokerInfo>(), topics.ToDictionary(t => t.Name));

    [Fact]
    public void Under_min_isr_counts_partitions_led_here_whose_isr_is_below_their_topics_minimum()
    {
        var view = View(
            new TopicInfo("strict", Guid.NewGuid(), [P("strict", 0, 1, [1, 2, 3], [1, 2]), P("strict", 1, 2, [1, 2, 3], [2]), P("strict", 2, 1, [1, 2, 3], [1, 2, 3])]),
            new TopicInfo("lenient", Guid.NewGuid(), [P("lenient", 0, 1, [1, 2, 3], [1, 2]), P("lenient", 1, 1, [1, 2, 3], [1])]),
            new TopicInfo("offline", Guid.NewGuid(), [P("offline", 0, -1, [1], [1])]));
        int MinIsr(string topic) => topic == "strict" ? 3 : 2;

        // strict-0 (2 < 3) and lenient-1 (1 < 2); strict-1 is led by 2, strict-2 and lenient-0 are at the minimum.
        Assert.Equal(2, BrokerGauges.UnderMinIsrPartitions(view, 1, MinIsr));
        Assert.Equal(1, BrokerGauges.UnderMinIsrPartitions(view, 2, MinIsr));
        Assert.Equal(0, BrokerGauges.UnderMinIsrPartitions(view, 3, MinIsr));
        Assert.Equal(3, BrokerGauges.UnderReplicatedPartitions(view, 1)); // every partition led by 1 except strict-2
    }

    [Fact]
    public void Group_lag_is_the_high_watermark_minus_the_committed_offset_and_unknowns_are_left_out()
    {
        var offsets = new[]
        {
            new CommittedOffset("g", new TopicPartition("t", 0), 4),
            new CommittedOffset("g", new TopicPartition("t", 1), 10), // ahead of this replica's view: 0, not negative
            new CommittedOffset("g", new TopicPartition("elsewhere", 0), 1), // no replica here
            new CommittedOffset("h", new TopicPartition("t", 0), -1), // no committed position
        };
        long? Hw(string topic, int partition) => topic == "t" ? (partition == 0 ? 10 : 7) : null;

        var lags = BrokerGauges.GroupLags(offsets, Hw);

        Assert.Equal([new GroupLag("g", "t", 0, 6), new GroupLag("g", "t", 1, 0)], lags);
    }

    [Fact]
    public void Each_node_exporter_shows_its_own_tagged_series_and_the_untagged_ones()
    {
        using var meter1 = new Meter("Kraft.Broker", null, [new KeyValuePair<string, object?>(RaftMetrics.NodeIdTag, 9001)]);
        using var meter2 = new Meter("Kraft.Broker", null, [new KeyValuePair<string, object?>(RaftMetrics.NodeIdTag, 9002)]);
        meter1.CreateObservableGauge("kraft.test.node_gauge", () => 1);
        meter2.CreateObservableGauge("kraft.test.node_gauge", () => 2);
        using var untagged = new Meter("Kraft.Broker");
        untagged.CreateObservableGauge("kraft.test.process_gauge", () => 7);
        using var foreign = new Meter("Other.Library", null, [new KeyValuePair<string, object?>(RaftMetrics.NodeIdTag, 9001)]);
        foreign.CreateObservableGauge("kraft.test.foreign_gauge", () => 3);

        using var exporter1 = new PrometheusExporter(new PrometheusExporterOptions { MeterFilter = BrokerGauges.NodeMeterFilter(9001) });
        using var exporter2 = new PrometheusExporter(new PrometheusExporterOptions { MeterFilter = BrokerGauges.NodeMeterFilter(9002) });
        var one = PrometheusTextParser.Parse(exporter1.Render());
        var two = PrometheusTextParser.Parse(exporter2.Render());

        var sample1 = Assert.Single(one["kraft_test_node_gauge"].Samples);
        Assert.Equal(("9001", 1.0), (sample1.Label("kraft_node_id"), sample1.Value));
        var sample2 = Assert.Single(two["kraft_test_node_gauge"].Samples);
        Assert.Equal(("9002", 2.0), (sample2.Label("kraft_node_id"), sample2.Value));
        Assert.Equal(7, Assert.Single(one["kraft_test_process_gauge"].Samples).Value);
        Assert.Equal(7, Assert.Single(two["kraft_test_process_gauge"].Samples).Value);
        Assert.False(one.ContainsKey("kraft_test_foreign_gauge"));
    }

    [Fact]
    public void The_new_instruments_export_with_the_documented_names_types_units_and_escaped_labels()
    {
        var gauges = RaftGaugeSnapshot.From(RaftRole.Leader, new NodeId(9001), 100,
            new QuorumDescription(new NodeId(9001), 3, 99, [new ReplicaDescription(new NodeId(9001), 100, 0, 0), new ReplicaDescription(new NodeId(9002), 97, 0, 0)], []));
        using var raft = new RaftMetrics(new NodeId(9001), () => gauges);
        using var controller = new ControllerMetrics(9001);
        using var brokerMeter = new Meter("Kraft.Broker", null, [new KeyValuePair<string, object?>(RaftMetrics.NodeIdTag, 9001)]);
        const string TrickyGroup = "we\"ird\\group\nname";
        IReadOnlyList<GroupLag> lags = [new GroupLag(TrickyGroup, "t", 0, 6)];
        BrokerGauges.RegisterGroupLag(brokerMeter, () => lags);
        var view = View(new TopicInfo("strict", Guid.NewGuid(), [P("strict", 0, 9001, [9001, 9002, 9003], [9001, 9002])]));
        BrokerGauges.RegisterUnderMinIsr(brokerMeter, 9001, () => view, _ => 3);
        using var exporter = new PrometheusExporter(new PrometheusExporterOptions { MeterFilter = BrokerGauges.NodeMeterFilter(9001) });

        var initial = PrometheusTextParser.Parse(exporter.Render());
        Assert.Equal(0, Assert.Single(initial["kraft_controller_unclean_elections_total"].Samples).Value);
        Assert.Equal(2, initial["kraft_raft_elections_total"].Samples.Count(s => s.Value == 0)); // won and lost, before any election
        raft.RecordElection(ElectionResult.Won);
        raft.RecordElection(ElectionResult.Lost);
        raft.RecordElection(ElectionResult.Won);
        raft.RecordCommitLatency(3);
        controller.RecordUncleanElections(2);
        string uniqueTopic = "records-" + Guid.NewGuid().ToString("N")[..8];
        BrokerMetrics.RecordsIn.Add(5, new KeyValuePair<string, object?>("topic", uniqueTopic));
        StorageMetrics.RecordFlush(StorageMetrics.MetadataLog, TimeSpan.FromMilliseconds(2));

        var families = PrometheusTextParser.Parse(exporter.Render());

        double Single(string family, params (string Name, string Value)[] labels) =>
            Assert.Single(families[family].Samples, s => labels.All(l => s.Labels.TryGetValue(l.Name, out var v) && v == l.Value)).Value;

        Assert.Equal("counter", families["kraft_raft_elections_total"].Type);
        Assert.Equal(2, Single("kraft_raft_elections_total", ("result", "won"), ("kraft_node_id", "9001")));
        Assert.Equal(1, Single("kraft_raft_elections_total", ("result", "lost")));
        Assert.Equal("histogram", families["kraft_raft_commit_latency_seconds"].Type);
        var commit = families["kraft_raft_commit_latency_seconds"].Samples;
        Assert.Equal(0.003, Assert.Single(commit, s => s.Name == "kraft_raft_commit_latency_seconds_sum").Value, 9);
        Assert.Equal(1, Assert.Single(commit, s => s.Name == "kraft_raft_commit_latency_seconds_bucket" && s.Label("le") == "0.005").Value);
        Assert.Equal("gauge", families["kraft_raft_state"].Type);
        Assert.Equal(1, Single("kraft_raft_state", ("state", "leader")));
        Assert.Equal(0, Single("kraft_raft_state", ("state", "candidate")));
        Assert.Equal(97, Single("kraft_raft_log_end_offset", ("replica", "9002")));
        Assert.Equal(3, Single("kraft_raft_follower_fetch_lag", ("replica", "9002")));
        Assert.Single(families["kraft_raft_follower_fetch_lag"].Samples);
        Assert.Equal("counter", families["kraft_controller_unclean_elections_total"].Type);
        Assert.Equal(2, Single("kraft_controller_unclean_elections_total", ("kraft_node_id", "9001")));
        Assert.Equal(5, Single("kraft_broker_topic_records_received_total", ("topic", uniqueTopic)));
        Assert.Equal("gauge", families["kraft_broker_group_lag"].Type);
        Assert.Equal(6, Single("kraft_broker_group_lag", ("group", TrickyGroup), ("topic", "t"), ("partition", "0")));
        Assert.Equal(1, Single("kraft_broker_under_min_isr_partitions", ("kraft_node_id", "9001")));
        Assert.Equal("histogram", families["kraft_storage_flush_latency_seconds"].Type);
        Assert.Contains(families["kraft_storage_flush_latency_seconds"].Samples, s => s.Name == "kraft_storage_flush_latency_seconds_count" && s.Label("log") == "metadata" && s.Value >= 1);
    }
}
