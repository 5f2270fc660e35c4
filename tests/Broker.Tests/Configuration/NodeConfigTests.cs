using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Kraft.Broker.Configuration;

namespace Kraft.Broker.Tests.Configuration;

/// <summary>Loading server.properties plus --set overrides into a NodeConfig: defaults, precedence, errors.</summary>
public sealed partial class NodeConfigTests
{
    private const string Minimal = """
        node.id=1
        controller.quorum.voters=1@127.0.0.1:9093
        listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
        controller.listener.names=CONTROLLER
        """;

    private static NodeConfig Parse(string text, params string[] overrides) => NodeConfig.Parse(text, overrides, "server.properties");

    private static ConfigException Fails(string text, params string[] overrides) =>
        Assert.Throws<ConfigException>(() => Parse(text, overrides));

    [Fact]
    public void A_minimal_combined_node_gets_kafka_defaults_everywhere_else()
    {
        var c = Parse(Minimal);

        Assert.Equal(1, c.NodeId);
        Assert.True(c.IsBroker && c.IsController);
        Assert.Equal([new QuorumVoter(1, "127.0.0.1", 9093)], c.ControllerQuorumVoters);
        Assert.Equal([new ListenerEndpoint("PLAINTEXT", "127.0.0.1", 9092), new ListenerEndpoint("CONTROLLER", "127.0.0.1", 9093)], c.Listeners);
        Assert.Equal([new ListenerEndpoint("PLAINTEXT", "127.0.0.1", 9092)], c.AdvertisedListeners);
        Assert.Equal("PLAINTEXT", c.InterBrokerListenerName);
        Assert.Equal(["/tmp/kafka-logs"], c.LogDirs);
        Assert.Equal("/tmp/kafka-logs", c.MetadataLogDir);
        Assert.Null(c.HttpListener);
        Assert.Null(c.BrokerRack);
        Assert.Equal(1000, c.ControllerQuorumElectionTimeoutMs);
        Assert.Equal(2000, c.ControllerQuorumFetchTimeoutMs);
        Assert.Equal(9000, c.BrokerSessionTimeoutMs);
        Assert.Equal(30000, c.ReplicaLagTimeMaxMs);
        Assert.False(c.UncleanLeaderElectionEnable);
        Assert.Equal(50, c.OffsetsTopicNumPartitions);
        Assert.Equal((short)3, c.OffsetsTopicReplicationFactor);
        Assert.Equal(168L * 3600 * 1000, c.LogRetentionMs);
        Assert.Equal(1048588, c.MessageMaxBytes);
        Assert.Empty(c.Notes);
    }

    [Fact]
    public void The_record_defaults_match_the_key_table_defaults()
    {
        // Every scalar property of a loaded minimal config must equal the record's own initializer, so
        // components that build a NodeConfig in code get the same defaults as a node reading a file.
        var loaded = Parse(Minimal);
        var fresh = new NodeConfig { NodeId = 1 };
        var scalar = typeof(NodeConfig).GetProperties().Where(p =>
            p.PropertyType.IsPrimitive || p.PropertyType == typeof(string) || p.PropertyType == typeof(long?) || p.PropertyType.IsEnum);
        var compared = 0;
        foreach (var p in scalar)
        {
            Assert.True(Equals(p.GetValue(fresh), p.GetValue(loaded)), $"{p.Name}: record {p.GetValue(fresh)} vs loaded {p.GetValue(loaded)}");
            compared++;
        }

        Assert.True(compared > 50, $"only {compared} properties compared");
    }

    [Fact]
    public void Kafkas_stock_kraft_server_properties_loads_with_notes_for_ignored_keys()
    {
        var c = Parse("""
            ############################# Server Basics #############################
            process.roles=broker,controller
            node.id=1
            controller.quorum.voters=1@localhost:9093
            listeners=PLAINTEXT://:9092,CONTROLLER://:9093
            inter.broker.listener.name=PLAINTEXT
            advertised.listeners=PLAINTEXT://localhost:9092
            controller.listener.names=CONTROLLER
            listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
            num.network.threads=3
            num.io.threads=8
            socket.send.buffer.bytes=102400
            socket.receive.buffer.bytes=102400
            socket.request.max.bytes=104857600
            log.dirs=/tmp/kraft-combined-logs
            num.partitions=1
            num.recovery.threads.per.data.dir=1
            offsets.topic.replication.factor=1
            transaction.state.log.replication.factor=1
            transaction.state.log.min.isr=1
            #log.flush.interval.messages=10000
            #log.flush.interval.ms=1000
            log.retention.hours=168
            #log.retention.bytes=1073741824
            log.segment.bytes=1073741824
            log.retention.check.interval.ms=300000
            """);

        Assert.Equal([new ListenerEndpoint("PLAINTEXT", "", 9092), new ListenerEndpoint("CONTROLLER", "", 9093)], c.Listeners);
        Assert.Equal([new ListenerEndpoint("PLAINTEXT", "localhost", 9092)], c.AdvertisedListeners);
        Assert.Equal((short)1, c.OffsetsTopicReplicationFactor);
        Assert.Equal("/tmp/kraft-combined-logs", c.MetadataLogDir);
        Assert.Equal(7, c.Notes.Count);
        Assert.Contains(c.Notes, n => n.StartsWith("num.io.threads is accepted and ignored", StringComparison.Ordinal));
        Assert.Contains(c.Notes, n => n.StartsWith("transaction.state.log.min.isr is accepted and ignored", StringComparison.Ordinal));
    }

    [Fact]
    public void Set_overrides_apply_on_top_of_the_file()
    {
        var c = Parse(Minimal + "\nmin.insync.replicas=2\n", "min.insync.replicas=3", "broker.rack = r1", "http.listener=127.0.0.1:0", "log.dirs=/a,/b");

        Assert.Equal(3, c.MinInsyncReplicas);
        Assert.Equal("r1", c.BrokerRack);
        Assert.Equal(new HostPort("127.0.0.1", 0), c.HttpListener);
        Assert.Equal(["/a", "/b"], c.LogDirs);
        Assert.Equal("/a", c.MetadataLogDir);
        Assert.Equal("3", c.Properties["min.insync.replicas"]);
    }

    [Theory]
    [InlineData("", 168L * 3_600_000)]
    [InlineData("log.retention.hours=1", 3_600_000L)]
    [InlineData("log.retention.hours=1\nlog.retention.minutes=2", 120_000L)]
    [InlineData("log.retention.hours=1\nlog.retention.minutes=2\nlog.retention.ms=5", 5L)]
    [InlineData("log.retention.ms=-1", -1L)]
    [InlineData("log.retention.hours=-1", -1L)]
    public void Retention_precedence_is_ms_then_minutes_then_hours(string lines, long expectedMs)
    {
        Assert.Equal(expectedMs, Parse(Minimal + "\n" + lines).LogRetentionMs);
    }

    [Fact]
    public void Log_dir_is_used_when_log_dirs_is_absent_and_roll_ms_beats_hours()
    {
        var c = Parse(Minimal + "\nlog.dir=/data/k\nmetadata.log.dir=/meta\nlog.roll.hours=2\nlog.roll.ms=1500");

        Assert.Equal(["/data/k"], c.LogDirs);
        Assert.Equal("/meta", c.MetadataLogDir);
        Assert.Equal(1500, c.LogRollMs);
    }

    [Theory]
    [InlineData("num.partitions=abc", "num.partitions: 'abc' is not a valid int (from server.properties:5)")]
    [InlineData("num.partitions=0", "num.partitions: 0 is below the minimum 1 (from server.properties:5)")]
    [InlineData("log.retention.ms=99999999999999999999", "log.retention.ms: '99999999999999999999' is not a valid long (from server.properties:5)")]
    [InlineData("offsets.topic.replication.factor=40000", "offsets.topic.replication.factor: '40000' is not a valid short (from server.properties:5)")]
    [InlineData("leader.imbalance.per.broker.percentage=101", "leader.imbalance.per.broker.percentage: 101 is above the maximum 100 (from server.properties:5)")]
    [InlineData("unclean.leader.election.enable=yes", "unclean.leader.election.enable: 'yes' is not true or false (from server.properties:5)")]
    [InlineData("compression.type=brotli", "compression.type: 'brotli' is not one of uncompressed, zstd, lz4, snappy, gzip, producer (from server.properties:5)")]
    [InlineData("log.retention.hourz=1", "log.retention.hourz: unknown configuration key (from server.properties:5)")]
    [InlineData("process.roles=broker,broker", "process.roles: 'broker,broker' repeats a value (from server.properties:5)")]
    [InlineData("process.roles=broker,zookeeper", "process.roles: 'zookeeper' is not one of broker, controller (from server.properties:5)")]
    [InlineData("log.dirs=/a,,/b", "log.dirs: '/a,,/b' has an empty entry (from server.properties:5)")]
    [InlineData("node.id=x", "node.id: 'x' is not a valid int (from server.properties:5)")]
    [InlineData("broker.id=2", "broker.id: 2 differs from node.id 1; set only node.id (from server.properties:5)")]
    [InlineData("http.listener=localhost", "http.listener: 'localhost' is not host:port (from server.properties:5)")]
    [InlineData("group.min.session.timeout.ms=2000000", "group.min.session.timeout.ms: 2000000 exceeds group.max.session.timeout.ms 1800000 (from server.properties:5)")]
    [InlineData("replica.fetch.wait.max.ms=30000", "replica.fetch.wait.max.ms: 30000 must be below replica.lag.time.max.ms 30000, or followers fall out of the ISR while waiting (from server.properties:5)")]
    [InlineData("broker.heartbeat.interval.ms=9000", "broker.heartbeat.interval.ms: 9000 must be below broker.session.timeout.ms 9000, or live brokers get fenced (from server.properties:5)")]
    public void A_bad_value_gives_one_line_naming_key_and_source(string line, string expected)
    {
        var e = Fails(Minimal + "\n" + line);

        Assert.Equal([expected], e.Errors);
        Assert.Equal(expected, e.Message);
    }

    [Theory]
    [InlineData("controller.quorum.voters=2@h:9093", "controller.quorum.voters: process.roles includes controller, so node.id 1 must be one of the voters")]
    [InlineData("controller.quorum.voters=1@h:9093,1@g:9093", "controller.quorum.voters: voter id 1 appears twice")]
    [InlineData("controller.quorum.voters=one@h:9093", "controller.quorum.voters: 'one@h:9093' is not id@host:port")]
    [InlineData("controller.quorum.voters=1@:9093", "controller.quorum.voters: '1@:9093' needs a host and a non-zero port")]
    [InlineData("process.roles=broker", "controller.quorum.voters: node.id 1 is a voter but process.roles does not include controller")]
    [InlineData("listeners=PLAINTEXT://127.0.0.1:9092", "listeners: process.roles includes controller, so listeners must include the controller listener CONTROLLER")]
    [InlineData("listeners=PLAINTEXT://:9092,CONTROLLER://:9092", "listeners: port 9092 is used by more than one listener")]
    [InlineData("listeners=SSL://:9094,CONTROLLER://:9093\ninter.broker.listener.name=SSL", "listeners: listener SSL uses SSL; Kraft serves PLAINTEXT only")]
    [InlineData("listeners=INTERNAL://:9094,CONTROLLER://:9093\ninter.broker.listener.name=INTERNAL", "listener.security.protocol.map: no security protocol for listener INTERNAL")]
    [InlineData("listeners=PLAINTEXT:/:9092", "listeners: 'PLAINTEXT:/:9092' is not NAME://host:port")]
    [InlineData("listeners=PLAINTEXT://::1:9092,CONTROLLER://:9093", "listeners: 'PLAINTEXT://::1:9092': put an IPv6 host in brackets, e.g. [::1]:9092")]
    [InlineData("listeners=PLAINTEXT://:99999,CONTROLLER://:9093", "listeners: 'PLAINTEXT://:99999' has an invalid port (0-65535)")]
    [InlineData("inter.broker.listener.name=CONTROLLER", "inter.broker.listener.name: CONTROLLER is not one of the (non-controller) listeners")]
    [InlineData("advertised.listeners=PLAINTEXT://0.0.0.0:9092", "advertised.listeners: PLAINTEXT://0.0.0.0:9092 advertises a non-routable address")]
    [InlineData("advertised.listeners=EXTERNAL://h:9092", "advertised.listeners: EXTERNAL is not a listener name in listeners")]
    public void Role_listener_and_quorum_rules_are_checked(string lines, string expectedPrefix)
    {
        var e = Fails(Minimal + "\n" + lines);

        Assert.Contains(e.Errors, err => err.StartsWith(expectedPrefix, StringComparison.Ordinal));
    }

    [Fact]
    public void Required_keys_and_all_problems_are_reported_together()
    {
        var e = Fails("num.partitions=x\nfoo.bar=1\n", "nonsense");

        Assert.Equal(
            [
                "--set 'nonsense': expected key=value",
                "foo.bar: unknown configuration key (from server.properties:2)",
                "num.partitions: 'x' is not a valid int (from server.properties:1)",
                "node.id: required (a non-negative integer unique in the cluster)",
                "controller.quorum.voters: required: list every controller as id@host:port (a broker-only node may give controller.quorum.bootstrap.servers instead)",
                "controller.listener.names: required: the name(s) of the controller listener, e.g. CONTROLLER",
            ],
            e.Errors.Take(6));
        Assert.StartsWith($"{e.Errors.Count} configuration errors:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_broker_only_node_may_find_the_quorum_through_bootstrap_servers_but_a_controller_may_not()
    {
        var broker = Parse("node.id=4\nprocess.roles=broker\ncontroller.quorum.bootstrap.servers=c1:9093, c2:9093\ncontroller.listener.names=CONTROLLER\nlisteners=PLAINTEXT://:9092");
        Assert.Empty(broker.ControllerQuorumVoters);
        Assert.Equal([new HostPort("c1", 9093), new HostPort("c2", 9093)], broker.ControllerQuorumBootstrapServers);

        var e = Fails("node.id=1\nprocess.roles=broker,controller\ncontroller.quorum.bootstrap.servers=c1:9093\ncontroller.listener.names=CONTROLLER\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093");
        Assert.Contains(e.Errors, x => x.StartsWith("controller.quorum.voters: required on a controller", StringComparison.Ordinal));
        Assert.Contains(Fails("node.id=4\nprocess.roles=broker\ncontroller.quorum.bootstrap.servers=c1\ncontroller.listener.names=CONTROLLER\nlisteners=PLAINTEXT://:9092").Errors,
            x => x.StartsWith("controller.quorum.bootstrap.servers:", StringComparison.Ordinal));
    }

    [Fact]
    public void Broker_only_and_controller_only_nodes_follow_kafkas_listener_rules()
    {
        var broker = Parse("""
            node.id=4
            process.roles=broker
            controller.quorum.voters=1@c1:9093,2@c2:9093,3@c3:9093
            controller.listener.names=CONTROLLER
            listeners=PLAINTEXT://:9092
            advertised.listeners=PLAINTEXT://b4.example:9092
            """);
        Assert.True(broker.IsBroker && !broker.IsController);
        Assert.Equal(3, broker.ControllerQuorumVoters.Count);

        var controller = Parse("node.id=1\nprocess.roles=controller\ncontroller.quorum.voters=1@c1:9093\ncontroller.listener.names=CONTROLLER\nlisteners=CONTROLLER://:9093");
        Assert.True(controller.IsController && !controller.IsBroker);
        Assert.Empty(controller.AdvertisedListeners);

        var e = Fails("node.id=1\nprocess.roles=controller\ncontroller.quorum.voters=1@c1:9093\ncontroller.listener.names=CONTROLLER\nlisteners=CONTROLLER://:9093,PLAINTEXT://:9092");
        Assert.Equal(["listeners: a controller-only node may only have controller listeners (from server.properties:5)"], e.Errors);

        var e2 = Fails("node.id=4\nprocess.roles=broker\ncontroller.quorum.voters=1@c1:9093\ncontroller.listener.names=CONTROLLER\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093");
        Assert.Equal(["listeners: a broker-only node must not listen on a controller listener (controller.listener.names) (from server.properties:5)"], e2.Errors);
    }

    [Fact]
    public void From_properties_builds_the_same_config_without_a_file()
    {
        var c = NodeConfig.FromProperties(new Dictionary<string, string>
        {
            ["node.id"] = "2",
            ["process.roles"] = "controller,broker",
            ["controller.quorum.voters"] = "1@[::1]:9093,2@localhost:9094",
            ["listeners"] = "plaintext://[::1]:0,controller://localhost:9094",
            ["controller.listener.names"] = "controller",
        });

        Assert.Equal("broker,controller", c.ProcessRolesText);
        Assert.Equal(new QuorumVoter(1, "::1", 9093), c.ControllerQuorumVoters[0]);
        Assert.Equal("1@[::1]:9093", c.ControllerQuorumVoters[0].ToString());
        Assert.Equal("PLAINTEXT://[::1]:0", c.Listeners[0].ToString());
        Assert.Equal(["CONTROLLER"], c.ControllerListenerNames);
        Assert.Equal("broker", (c with { ProcessRoles = ProcessRoles.Broker }).ProcessRolesText);
        Assert.Equal("num.partitions: '-' is not a valid int (from properties)",
            Assert.Throws<ConfigException>(() => NodeConfig.FromProperties(new Dictionary<string, string>(c.Properties) { ["num.partitions"] = "-" })).Message);
    }

    [Fact]
    public void Prefixed_keys_are_accepted_with_a_note()
    {
        var c = Parse(Minimal + "\nssl.keystore.location=/x\nlistener.name.plaintext.foo=1");

        Assert.Equal(2, c.Notes.Count);
        Assert.Equal("/x", c.Properties["ssl.keystore.location"]);
    }

    [Fact]
    public void Load_reads_a_file_and_reports_a_missing_one()
    {
        var path = Path.Combine(Path.GetTempPath(), $"kraft-obs-{Guid.NewGuid():N}.properties");
        File.WriteAllText(path, Minimal + "\nnum.partitions=bad\n");
        try
        {
            var e = Assert.Throws<ConfigException>(() => NodeConfig.Load(path));
            Assert.Equal($"num.partitions: 'bad' is not a valid int (from {Path.GetFileName(path)}:5)", e.Message);
            Assert.Equal(7, NodeConfig.Load(path, ["num.partitions=7"]).NumPartitions);
        }
        finally
        {
            File.Delete(path);
        }

        Assert.StartsWith("cannot read configuration file", Assert.Throws<ConfigException>(() => NodeConfig.Load(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Operations_doc_lists_every_key_and_its_example_configs_load()
    {
        var doc = File.ReadAllText(Path.Combine(RepoRoot(), "docs", "operations.md"));

        foreach (var key in ConfigKeys.All)
        {
            var row = doc.Split('\n').FirstOrDefault(l => l.StartsWith($"| `{key.Name}` |", StringComparison.Ordinal));
            Assert.True(row is not null, $"docs/operations.md has no table row for {key.Name}");
            Assert.Contains($"| {(key.Default is null ? "unset" : key.Default.Length == 0 ? "empty" : $"`{key.Default}`")} |", row, StringComparison.Ordinal);
        }

        var examples = PropertiesBlock().Matches(doc).Select(m => m.Groups[1].Value).ToList();
        Assert.True(examples.Count >= 3, "the three-node example is missing");
        var nodes = examples.Select(text => NodeConfig.Parse(text, [], "operations.md")).ToList();
        Assert.Equal(nodes.Count, nodes.Select(n => n.NodeId).Distinct().Count());
    }

    private static string RepoRoot([CallerFilePath] string path = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", "..", ".."));

    [GeneratedRegex("```properties\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex PropertiesBlock();
}
