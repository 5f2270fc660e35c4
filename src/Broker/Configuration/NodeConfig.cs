using System.Globalization;

namespace Kraft.Broker.Configuration;

/// <summary>
/// The typed, validated configuration of one node, as the server reads it. Property defaults are
/// Kafka's (see <see cref="ConfigKeys"/> and docs/operations.md), so tests may also build one with an
/// object initializer. Immutable; any thread.
/// </summary>
/// <remarks>
/// Loading: <see cref="Load"/> reads a server.properties file (<see cref="JavaProperties"/>), applies
/// "--set key=value" overrides on top, checks every key (unknown keys are errors unless under an
/// ignored prefix such as ssl. or listener.name.), every value's type and range, and the cross-key rules
/// Kafka's KafkaConfig checks in KRaft mode (the quorum keys come from KIP-595, the process roles and
/// controller listeners from KIP-631); all problems are reported together, one line each, in a
/// <see cref="ConfigException"/>. Kraft-specific departures: process.roles defaults to combined mode,
/// and http.listener is Kraft's own key.
/// </remarks>
public sealed record NodeConfig
{
    // Identity, roles, quorum.
    public int NodeId { get; init; }
    public ProcessRoles ProcessRoles { get; init; } = ProcessRoles.Broker | ProcessRoles.Controller;
    public IReadOnlyList<QuorumVoter> ControllerQuorumVoters { get; init; } = [];

    /// <summary>
    /// controller.quorum.bootstrap.servers (KIP-853): controller listener addresses a broker-only node asks for the
    /// voters (DescribeCluster with EndpointType 2) when controller.quorum.voters is not set. The voter set itself
    /// stays static.
    /// </summary>
    public IReadOnlyList<HostPort> ControllerQuorumBootstrapServers { get; init; } = [];
    public int ControllerQuorumElectionTimeoutMs { get; init; } = 1000;
    public int ControllerQuorumFetchTimeoutMs { get; init; } = 2000;
    public int ControllerQuorumElectionBackoffMaxMs { get; init; } = 1000;
    public int ControllerQuorumRequestTimeoutMs { get; init; } = 2000;
    public int ControllerQuorumRetryBackoffMs { get; init; } = 20;
    public int ControllerQuorumAppendLingerMs { get; init; } = 25;
    public int MetadataLogSegmentBytes { get; init; } = 1073741824;
    public long MetadataLogMaxRecordBytesBetweenSnapshots { get; init; } = 20971520;
    public int BrokerHeartbeatIntervalMs { get; init; } = 2000;
    public int BrokerSessionTimeoutMs { get; init; } = 9000;

    // Listeners.
    public IReadOnlyList<ListenerEndpoint> Listeners { get; init; } = [new("PLAINTEXT", "", 9092)];

    /// <summary>What clients and brokers are told; an empty host means "this machine's host name" (the server fills it in).</summary>
    public IReadOnlyList<ListenerEndpoint> AdvertisedListeners { get; init; } = [new("PLAINTEXT", "", 9092)];
    public IReadOnlyList<string> ControllerListenerNames { get; init; } = ["CONTROLLER"];
    public string InterBrokerListenerName { get; init; } = "PLAINTEXT";

    /// <summary>Kraft extension: where /metrics and /health are served; null disables the HTTP listener.</summary>
    public HostPort? HttpListener { get; init; }
    public string? BrokerRack { get; init; }

    // Storage.
    public IReadOnlyList<string> LogDirs { get; init; } = ["/tmp/kafka-logs"];
    public string MetadataLogDir { get; init; } = "/tmp/kafka-logs";
    public int LogSegmentBytes { get; init; } = 1073741824;
    public long LogRollMs { get; init; } = 168L * 60 * 60 * 1000;

    /// <summary>Effective retention time (log.retention.ms over .minutes over .hours); -1 keeps data forever.</summary>
    public long LogRetentionMs { get; init; } = 168L * 60 * 60 * 1000;
    public long LogRetentionBytes { get; init; } = -1;
    public long LogRetentionCheckIntervalMs { get; init; } = 300000;
    public int LogIndexIntervalBytes { get; init; } = 4096;
    public int LogIndexSizeMaxBytes { get; init; } = 10485760;
    public long LogFlushIntervalMessages { get; init; } = long.MaxValue;

    /// <summary>log.preallocate: zero-fill partition segments ahead of their data (see LogConfig.Preallocate).</summary>
    public bool LogPreallocate { get; init; }

    /// <summary>Null: no time-based flush of partition logs.</summary>
    public long? LogFlushIntervalMs { get; init; }

    // Log compaction (log.cleanup.policy, log.cleaner.*).
    public string LogCleanupPolicy { get; init; } = "delete";
    public bool LogCleanerEnable { get; init; } = true;
    public long LogCleanerBackoffMs { get; init; } = 15000;
    public long LogCleanerDedupeBufferSize { get; init; } = 134217728;
    public double LogCleanerMinCleanableRatio { get; init; } = 0.5;
    public long LogCleanerDeleteRetentionMs { get; init; } = 86400000;

    // Replication and leadership.
    public long ReplicaLagTimeMaxMs { get; init; } = 30000;
    public long ReplicaHighWatermarkCheckpointIntervalMs { get; init; } = 5000;
    public int ReplicaFetchMaxBytes { get; init; } = 1048576;
    public int ReplicaFetchMinBytes { get; init; } = 1;
    public int ReplicaFetchWaitMaxMs { get; init; } = 500;
    public int ReplicaFetchBackoffMs { get; init; } = 1000;
    public int ReplicaSocketTimeoutMs { get; init; } = 30000;
    public int NumReplicaFetchers { get; init; } = 1;
    public int MinInsyncReplicas { get; init; } = 1;
    public bool UncleanLeaderElectionEnable { get; init; }
    public int DefaultReplicationFactor { get; init; } = 1;
    public int NumPartitions { get; init; } = 1;
    public bool AutoCreateTopicsEnable { get; init; } = true;
    public bool DeleteTopicEnable { get; init; } = true;
    public bool AutoLeaderRebalanceEnable { get; init; } = true;
    public int LeaderImbalancePerBrokerPercentage { get; init; } = 10;
    public long LeaderImbalanceCheckIntervalSeconds { get; init; } = 300;

    // Groups and offsets.
    public int OffsetsTopicNumPartitions { get; init; } = 50;
    public short OffsetsTopicReplicationFactor { get; init; } = 3;
    public int OffsetsTopicSegmentBytes { get; init; } = 104857600;
    public int OffsetsRetentionMinutes { get; init; } = 10080;
    public long OffsetsRetentionCheckIntervalMs { get; init; } = 600000;
    public int GroupInitialRebalanceDelayMs { get; init; } = 3000;
    public int GroupMinSessionTimeoutMs { get; init; } = 6000;
    public int GroupMaxSessionTimeoutMs { get; init; } = 1800000;

    // Requests and network.
    public int MessageMaxBytes { get; init; } = 1048588;
    public int SocketRequestMaxBytes { get; init; } = 104857600;
    public int RequestTimeoutMs { get; init; } = 30000;
    public long ConnectionsMaxIdleMs { get; init; } = 600000;

    /// <summary>Every key that was set (file, then overrides), with its final raw value.</summary>
    public IReadOnlyDictionary<string, string> Properties { get; init; } = new Dictionary<string, string>();

    /// <summary>One line per key that was accepted but is not acted on, for the server to log at start.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>True when this node is a voter of the metadata quorum.</summary>
    public bool IsController => (ProcessRoles & ProcessRoles.Controller) != 0;

    /// <summary>True when this node serves Kafka clients and hosts partitions.</summary>
    public bool IsBroker => (ProcessRoles & ProcessRoles.Broker) != 0;

    /// <summary>process.roles as Kafka writes it: "broker", "controller" or "broker,controller".</summary>
    public string ProcessRolesText => string.Join(",", new[] { IsBroker ? "broker" : null, IsController ? "controller" : null }.OfType<string>());

    /// <summary>Reads a properties file and applies "key=value" overrides (from --set) on top.</summary>
    public static NodeConfig Load(string path, IEnumerable<string>? overrides = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"cannot read configuration file {path}: {e.Message}");
        }

        return Parse(text, overrides, Path.GetFileName(path));
    }

    /// <summary>As <see cref="Load"/>, from the text of a properties file; <paramref name="sourceName"/> appears in errors.</summary>
    public static NodeConfig Parse(string propertiesText, IEnumerable<string>? overrides = null, string sourceName = "config")
    {
        var raw = new Dictionary<string, (string Value, string Source)>(StringComparer.Ordinal);
        foreach (var entry in JavaProperties.Parse(propertiesText, sourceName))
        {
            raw[entry.Key] = (entry.Value, $"{sourceName}:{entry.Line}");
        }

        var errors = new List<string>();
        foreach (var o in overrides ?? [])
        {
            var eq = o.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || o[..eq].Trim().Length == 0)
            {
                errors.Add($"--set '{o}': expected key=value");
                continue;
            }

            raw[o[..eq].Trim()] = (o[(eq + 1)..], "--set");
        }

        return Build(raw, errors);
    }

    /// <summary>From already-split key/value pairs (for tests and in-process clusters).</summary>
    public static NodeConfig FromProperties(IReadOnlyDictionary<string, string> properties)
    {
        ArgumentNullException.ThrowIfNull(properties);
        return Build(properties.ToDictionary(kv => kv.Key, kv => (kv.Value, "properties"), StringComparer.Ordinal), []);
    }

    private static NodeConfig Build(Dictionary<string, (string Value, string Source)> raw, List<string> errors)
    {
        var r = new Reader(raw, errors);
        var notes = new List<string>();
        foreach (var (key, (value, source)) in raw.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var def = ConfigKeys.Find(key);
            if (def is null)
            {
                if (ConfigKeys.HasIgnoredPrefix(key))
                {
                    notes.Add($"{key} is accepted and ignored (Kraft does not implement this subsystem)");
                }
                else
                {
                    errors.Add($"{key}: unknown configuration key (from {source})");
                }

                continue;
            }

            r.Check(def);
            if (def.Use == ConfigUse.Ignored)
            {
                notes.Add($"{key} is accepted and ignored: {def.Note}");
            }
        }

        var config = new NodeConfig
        {
            NodeId = r.Int("node.id") ?? -1,
            ProcessRoles = r.Roles(),
            ControllerQuorumElectionTimeoutMs = r.Int("controller.quorum.election.timeout.ms")!.Value,
            ControllerQuorumFetchTimeoutMs = r.Int("controller.quorum.fetch.timeout.ms")!.Value,
            ControllerQuorumElectionBackoffMaxMs = r.Int("controller.quorum.election.backoff.max.ms")!.Value,
            ControllerQuorumRequestTimeoutMs = r.Int("controller.quorum.request.timeout.ms")!.Value,
            ControllerQuorumRetryBackoffMs = r.Int("controller.quorum.retry.backoff.ms")!.Value,
            ControllerQuorumAppendLingerMs = r.Int("controller.quorum.append.linger.ms")!.Value,
            MetadataLogSegmentBytes = r.Int("metadata.log.segment.bytes")!.Value,
            MetadataLogMaxRecordBytesBetweenSnapshots = r.Long("metadata.log.max.record.bytes.between.snapshots")!.Value,
            BrokerHeartbeatIntervalMs = r.Int("broker.heartbeat.interval.ms")!.Value,
            BrokerSessionTimeoutMs = r.Int("broker.session.timeout.ms")!.Value,
            BrokerRack = r.String("broker.rack"),
            LogSegmentBytes = r.Int("log.segment.bytes")!.Value,
            LogRollMs = r.Long("log.roll.ms") ?? r.Int("log.roll.hours")!.Value * 3_600_000L,
            LogRetentionMs = RetentionMs(r),
            LogRetentionBytes = r.Long("log.retention.bytes")!.Value,
            LogRetentionCheckIntervalMs = r.Long("log.retention.check.interval.ms")!.Value,
            LogIndexIntervalBytes = r.Int("log.index.interval.bytes")!.Value,
            LogIndexSizeMaxBytes = r.Int("log.index.size.max.bytes")!.Value,
            LogFlushIntervalMessages = r.Long("log.flush.interval.messages")!.Value,
            LogPreallocate = r.Bool("log.preallocate"),
            LogFlushIntervalMs = r.Long("log.flush.interval.ms"),
            LogCleanupPolicy = r.String("log.cleanup.policy") ?? "delete",
            LogCleanerEnable = r.Bool("log.cleaner.enable"),
            LogCleanerBackoffMs = r.Long("log.cleaner.backoff.ms")!.Value,
            LogCleanerDedupeBufferSize = r.Long("log.cleaner.dedupe.buffer.size")!.Value,
            LogCleanerMinCleanableRatio = double.TryParse(r.String("log.cleaner.min.cleanable.ratio"), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double ratio) ? Math.Clamp(ratio, 0, 1) : 0.5,
            LogCleanerDeleteRetentionMs = r.Long("log.cleaner.delete.retention.ms")!.Value,
            ReplicaLagTimeMaxMs = r.Long("replica.lag.time.max.ms")!.Value,
            ReplicaHighWatermarkCheckpointIntervalMs = r.Long("replica.high.watermark.checkpoint.interval.ms")!.Value,
            ReplicaFetchMaxBytes = r.Int("replica.fetch.max.bytes")!.Value,
            ReplicaFetchMinBytes = r.Int("replica.fetch.min.bytes")!.Value,
            ReplicaFetchWaitMaxMs = r.Int("replica.fetch.wait.max.ms")!.Value,
            ReplicaFetchBackoffMs = r.Int("replica.fetch.backoff.ms")!.Value,
            ReplicaSocketTimeoutMs = r.Int("replica.socket.timeout.ms")!.Value,
            NumReplicaFetchers = r.Int("num.replica.fetchers")!.Value,
            MinInsyncReplicas = r.Int("min.insync.replicas")!.Value,
            UncleanLeaderElectionEnable = r.Bool("unclean.leader.election.enable"),
            DefaultReplicationFactor = r.Int("default.replication.factor")!.Value,
            NumPartitions = r.Int("num.partitions")!.Value,
            AutoCreateTopicsEnable = r.Bool("auto.create.topics.enable"),
            DeleteTopicEnable = r.Bool("delete.topic.enable"),
            AutoLeaderRebalanceEnable = r.Bool("auto.leader.rebalance.enable"),
            LeaderImbalancePerBrokerPercentage = r.Int("leader.imbalance.per.broker.percentage")!.Value,
            LeaderImbalanceCheckIntervalSeconds = r.Long("leader.imbalance.check.interval.seconds")!.Value,
            OffsetsTopicNumPartitions = r.Int("offsets.topic.num.partitions")!.Value,
            OffsetsTopicReplicationFactor = (short)r.Long("offsets.topic.replication.factor")!.Value,
            OffsetsTopicSegmentBytes = r.Int("offsets.topic.segment.bytes")!.Value,
            OffsetsRetentionMinutes = r.Int("offsets.retention.minutes")!.Value,
            OffsetsRetentionCheckIntervalMs = r.Long("offsets.retention.check.interval.ms")!.Value,
            GroupInitialRebalanceDelayMs = r.Int("group.initial.rebalance.delay.ms")!.Value,
            GroupMinSessionTimeoutMs = r.Int("group.min.session.timeout.ms")!.Value,
            GroupMaxSessionTimeoutMs = r.Int("group.max.session.timeout.ms")!.Value,
            MessageMaxBytes = r.Int("message.max.bytes")!.Value,
            SocketRequestMaxBytes = r.Int("socket.request.max.bytes")!.Value,
            RequestTimeoutMs = r.Int("request.timeout.ms")!.Value,
            ConnectionsMaxIdleMs = r.Long("connections.max.idle.ms")!.Value,
            Properties = raw.ToDictionary(kv => kv.Key, kv => kv.Value.Value, StringComparer.Ordinal),
            Notes = notes,
        };

        config = Relations(config, r);
        if (errors.Count > 0)
        {
            throw new ConfigException(errors);
        }

        return config;
    }

    private static long RetentionMs(Reader r)
    {
        // Kafka's precedence: log.retention.ms, then .minutes, then .hours; any negative value is "forever".
        var ms = r.Long("log.retention.ms")
            ?? (r.Int("log.retention.minutes") is { } minutes ? minutes * 60_000L : r.Int("log.retention.hours")!.Value * 3_600_000L);
        return ms < 0 ? -1 : ms;
    }

    /// <summary>The cross-key rules (KafkaConfig's KRaft validation, plus Kraft's PLAINTEXT-only rule).</summary>
    private static NodeConfig Relations(NodeConfig c, Reader r)
    {
        if (!r.IsSet("node.id"))
        {
            r.Error("node.id", "required (a non-negative integer unique in the cluster)");
        }

        if (r.Int("broker.id") is { } brokerId && c.NodeId >= 0 && brokerId != c.NodeId)
        {
            r.Error("broker.id", $"{brokerId} differs from node.id {c.NodeId}; set only node.id");
        }

        // Quorum voters.
        var voters = new List<QuorumVoter>();
        foreach (var text in r.List("controller.quorum.voters") ?? [])
        {
            if (!QuorumVoter.TryParse(text, out var v, out var err))
            {
                r.Error("controller.quorum.voters", err!);
            }
            else if (voters.Any(x => x.Id == v!.Id))
            {
                r.Error("controller.quorum.voters", $"voter id {v!.Id} appears twice");
            }
            else
            {
                voters.Add(v!);
            }
        }

        var bootstrapServers = new List<HostPort>();
        foreach (var text in r.List("controller.quorum.bootstrap.servers") ?? [])
        {
            if (!HostPort.TryParse(text, out var hp, out var err) || hp!.Host.Length == 0 || hp.Port == 0)
            {
                r.Error("controller.quorum.bootstrap.servers", err ?? $"'{text}' needs a host and a non-zero port");
            }
            else
            {
                bootstrapServers.Add(hp);
            }
        }

        if (!r.IsSet("controller.quorum.voters") && (bootstrapServers.Count == 0 || c.IsController))
        {
            r.Error("controller.quorum.voters", bootstrapServers.Count == 0
                ? "required: list every controller as id@host:port (a broker-only node may give controller.quorum.bootstrap.servers instead)"
                : "required on a controller: the voter set is static (controller.quorum.bootstrap.servers alone serves broker-only nodes)");
        }
        else if (c.NodeId >= 0 && c.IsController && voters.Count > 0 && voters.All(v => v.Id != c.NodeId))
        {
            r.Error("controller.quorum.voters", $"process.roles includes controller, so node.id {c.NodeId} must be one of the voters");
        }
        else if (c.NodeId >= 0 && !c.IsController && voters.Any(v => v.Id == c.NodeId))
        {
            r.Error("controller.quorum.voters", $"node.id {c.NodeId} is a voter but process.roles does not include controller");
        }

        // Listener names and protocols.
        var controllerNames = (r.List("controller.listener.names") ?? []).Select(n => n.ToUpperInvariant()).ToList();
        if (controllerNames.Count == 0)
        {
            r.Error("controller.listener.names", "required: the name(s) of the controller listener, e.g. CONTROLLER");
        }

        var protocolMap = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in r.List("listener.security.protocol.map") ?? [])
        {
            var parts = entry.Split(':');
            if (parts.Length != 2 || parts[0].Trim().Length == 0 || parts[1].Trim().Length == 0)
            {
                r.Error("listener.security.protocol.map", $"'{entry}' is not NAME:PROTOCOL");
                continue;
            }

            protocolMap[parts[0].Trim().ToUpperInvariant()] = parts[1].Trim().ToUpperInvariant();
        }

        var listeners = ParseListeners(r, "listeners");
        foreach (var l in listeners)
        {
            var protocol = protocolMap.GetValueOrDefault(l.Name)
                ?? (controllerNames.Contains(l.Name) && !r.IsSet("listener.security.protocol.map") ? "PLAINTEXT" : null);
            if (protocol is null)
            {
                r.Error("listener.security.protocol.map", $"no security protocol for listener {l.Name}");
            }
            else if (protocol != "PLAINTEXT")
            {
                r.Error("listeners", $"listener {l.Name} uses {protocol}; Kraft serves PLAINTEXT only");
            }
        }

        foreach (var group in listeners.GroupBy(l => l.Name).Where(g => g.Count() > 1))
        {
            r.Error("listeners", $"listener name {group.Key} appears twice");
        }

        foreach (var group in listeners.Where(l => l.Port != 0).GroupBy(l => l.Port).Where(g => g.Count() > 1))
        {
            r.Error("listeners", $"port {group.Key} is used by more than one listener");
        }

        var listenerNames = listeners.Select(l => l.Name).ToHashSet(StringComparer.Ordinal);
        if (c.IsController && controllerNames.Count > 0 && !controllerNames.Any(listenerNames.Contains))
        {
            r.Error("listeners", $"process.roles includes controller, so listeners must include the controller listener {controllerNames[0]}");
        }

        if (!c.IsController && controllerNames.Any(listenerNames.Contains))
        {
            r.Error("listeners", "a broker-only node must not listen on a controller listener (controller.listener.names)");
        }

        if (c.IsController && !c.IsBroker && listeners.Any(l => !controllerNames.Contains(l.Name)))
        {
            r.Error("listeners", "a controller-only node may only have controller listeners");
        }

        var brokerListeners = listeners.Where(l => !controllerNames.Contains(l.Name)).ToList();
        var interBroker = (r.String("inter.broker.listener.name") ?? "PLAINTEXT").ToUpperInvariant();
        if (c.IsBroker)
        {
            if (brokerListeners.Count == 0)
            {
                r.Error("listeners", "process.roles includes broker, so listeners needs a non-controller listener, e.g. PLAINTEXT://:9092");
            }
            else if (!brokerListeners.Any(l => l.Name == interBroker))
            {
                r.Error("inter.broker.listener.name", $"{interBroker} is not one of the (non-controller) listeners");
            }
        }

        var advertised = r.IsSet("advertised.listeners") ? ParseListeners(r, "advertised.listeners") : brokerListeners;
        foreach (var a in advertised)
        {
            if (!listenerNames.Contains(a.Name))
            {
                r.Error("advertised.listeners", $"{a.Name} is not a listener name in listeners");
            }

            if (a.Host is "0.0.0.0" or "::")
            {
                r.Error("advertised.listeners", $"{a} advertises a non-routable address");
            }
        }

        // HTTP listener (Kraft extension).
        HostPort? http = null;
        if (r.String("http.listener") is { Length: > 0 } httpText && !HostPort.TryParse(httpText, out http, out var httpError))
        {
            r.Error("http.listener", httpError!);
        }

        // Directories: log.dirs over log.dir; metadata.log.dir defaults to the first.
        var logDirs = r.List("log.dirs") ?? [r.String("log.dir") ?? ""];
        if (logDirs.Count == 0 || logDirs.Any(d => d.Length == 0))
        {
            r.Error("log.dirs", "needs at least one directory and no empty entries");
        }

        // Numeric relations Kafka enforces.
        if (c.GroupMinSessionTimeoutMs > c.GroupMaxSessionTimeoutMs)
        {
            r.Error("group.min.session.timeout.ms", $"{c.GroupMinSessionTimeoutMs} exceeds group.max.session.timeout.ms {c.GroupMaxSessionTimeoutMs}");
        }

        if (c.ReplicaFetchWaitMaxMs >= c.ReplicaLagTimeMaxMs)
        {
            r.Error("replica.fetch.wait.max.ms", $"{c.ReplicaFetchWaitMaxMs} must be below replica.lag.time.max.ms {c.ReplicaLagTimeMaxMs}, or followers fall out of the ISR while waiting");
        }

        if (c.ReplicaFetchWaitMaxMs > c.ReplicaSocketTimeoutMs)
        {
            r.Error("replica.fetch.wait.max.ms", $"{c.ReplicaFetchWaitMaxMs} must not exceed replica.socket.timeout.ms {c.ReplicaSocketTimeoutMs}");
        }

        if (c.BrokerHeartbeatIntervalMs >= c.BrokerSessionTimeoutMs)
        {
            r.Error("broker.heartbeat.interval.ms", $"{c.BrokerHeartbeatIntervalMs} must be below broker.session.timeout.ms {c.BrokerSessionTimeoutMs}, or live brokers get fenced");
        }

        return c with
        {
            ControllerQuorumVoters = voters,
            ControllerQuorumBootstrapServers = bootstrapServers,
            Listeners = listeners,
            AdvertisedListeners = advertised,
            ControllerListenerNames = controllerNames,
            InterBrokerListenerName = interBroker,
            HttpListener = http,
            LogDirs = logDirs,
            MetadataLogDir = r.String("metadata.log.dir") ?? logDirs.FirstOrDefault() ?? "",
        };
    }

    private static List<ListenerEndpoint> ParseListeners(Reader r, string key)
    {
        var result = new List<ListenerEndpoint>();
        foreach (var text in r.List(key) ?? [])
        {
            if (ListenerEndpoint.TryParse(text, out var l, out var err))
            {
                result.Add(l!);
            }
            else
            {
                r.Error(key, err!);
            }
        }

        return result;
    }

    /// <summary>Typed access to raw values with defaults from <see cref="ConfigKeys"/>; records errors instead of throwing.</summary>
    private sealed class Reader(Dictionary<string, (string Value, string Source)> raw, List<string> errors)
    {
        private readonly HashSet<string> _bad = new(StringComparer.Ordinal);

        public bool IsSet(string key) => raw.ContainsKey(key);

        public void Error(string key, string problem)
        {
            var source = raw.TryGetValue(key, out var v) ? $" (from {v.Source})" : "";
            errors.Add($"{key}: {problem}{source}");
        }

        /// <summary>Type- and range-checks a set value once, so each bad key gives one error.</summary>
        public void Check(ConfigKey def)
        {
            var text = raw[def.Name].Value.Trim();
            string? problem = null;
            switch (def.Type)
            {
                case ConfigType.Int:
                case ConfigType.Short:
                case ConfigType.Long:
                    var (min, max, typeName) = def.Type switch
                    {
                        ConfigType.Int => (int.MinValue, (long)int.MaxValue, "int"),
                        ConfigType.Short => (short.MinValue, (long)short.MaxValue, "short"),
                        _ => (long.MinValue, long.MaxValue, "long"),
                    };
                    if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
                    {
                        problem = $"'{text}' is not a valid {typeName}";
                    }
                    else if (def.Min is { } lo && n < lo)
                    {
                        problem = $"{n} is below the minimum {lo}";
                    }
                    else if (def.Max is { } hi && n > hi)
                    {
                        problem = $"{n} is above the maximum {hi}";
                    }

                    break;
                case ConfigType.Boolean:
                    if (!text.Equals("true", StringComparison.OrdinalIgnoreCase) && !text.Equals("false", StringComparison.OrdinalIgnoreCase))
                    {
                        problem = $"'{text}' is not true or false";
                    }

                    break;
                case ConfigType.String:
                    if (def.ValidValues is { } valid && !valid.Contains(text))
                    {
                        problem = $"'{text}' is not one of {string.Join(", ", valid)}";
                    }

                    break;
                case ConfigType.List:
                    var items = SplitList(text);
                    if (items.Any(i => i.Length == 0))
                    {
                        problem = $"'{text}' has an empty entry";
                    }
                    else if (def.ValidValues is { } validItems && items.FirstOrDefault(i => !validItems.Contains(i)) is { } badItem)
                    {
                        problem = $"'{badItem}' is not one of {string.Join(", ", validItems)}";
                    }
                    else if (items.Distinct(StringComparer.Ordinal).Count() != items.Count && def.ValidValues is not null)
                    {
                        problem = $"'{text}' repeats a value";
                    }

                    break;
            }

            if (problem is not null)
            {
                _bad.Add(def.Name);
                Error(def.Name, problem);
            }
        }

        private string? Text(string key)
        {
            var def = ConfigKeys.Find(key) ?? throw new InvalidOperationException($"bug: {key} is not in ConfigKeys");
            if (raw.TryGetValue(key, out var v) && !_bad.Contains(key))
            {
                return v.Value.Trim();
            }

            return def.Default;
        }

        public int? Int(string key) => Text(key) is { } t ? int.Parse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) : null;

        public long? Long(string key) => Text(key) is { } t ? long.Parse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) : null;

        public bool Bool(string key) => bool.Parse(Text(key)!);

        public string? String(string key) => Text(key) is { Length: > 0 } t ? t : null;

        public List<string>? List(string key) => Text(key) is { } t ? SplitList(t) : null;

        public ProcessRoles Roles()
        {
            var roles = ProcessRoles.None;
            foreach (var role in List("process.roles") ?? [])
            {
                roles |= role == "broker" ? ProcessRoles.Broker : ProcessRoles.Controller;
            }

            if (roles == ProcessRoles.None)
            {
                if (!_bad.Contains("process.roles"))
                {
                    Error("process.roles", "must contain broker, controller, or both");
                }

                roles = ProcessRoles.Broker | ProcessRoles.Controller;
            }

            return roles;
        }

        private static List<string> SplitList(string text) =>
            text.Length == 0 ? [] : [.. text.Split(',').Select(s => s.Trim())];
    }
}
