namespace Kraft.Broker.Configuration;

/// <summary>The value type of a configuration key, as Kafka's ConfigDef types them.</summary>
public enum ConfigType
{
    Int,
    Long,
    Short,
    Boolean,
    String,
    List,
}

/// <summary>What Kraft does with a key.</summary>
public enum ConfigUse
{
    /// <summary>A Kafka key Kraft honours.</summary>
    Used,

    /// <summary>A Kafka key Kraft accepts (and type-checks) but does not act on; see <see cref="ConfigKey.Note"/>.</summary>
    Ignored,

    /// <summary>A key Kafka does not have; Kraft's own.</summary>
    KraftExtension,
}

/// <summary>
/// One known key: name, type, default as it would be written in a file (null: no default), allowed
/// range or values, meaning. Immutable.
/// </summary>
public sealed record ConfigKey(
    string Name,
    ConfigType Type,
    string? Default,
    string Doc,
    long? Min = null,
    long? Max = null,
    IReadOnlyList<string>? ValidValues = null,
    ConfigUse Use = ConfigUse.Used,
    string? Note = null);

/// <summary>
/// Every key Kraft knows, with Kafka's names and defaults (Kafka 3.x/4.x KRaft mode), plus
/// http.listener, Kraft's own. docs/operations.md renders the same table; a test keeps them in step.
/// </summary>
public static class ConfigKeys
{
    /// <summary>Keys under these prefixes are accepted and ignored (TLS, SASL, per-listener overrides, subsystems Kraft lacks).</summary>
    public static readonly IReadOnlyList<string> IgnoredPrefixes =
    [
        "listener.name.", "ssl.", "sasl.", "log.cleaner.", "transaction.", "share.", "quota.", "client.quota.",
        "metrics.", "metric.", "remote.log.", "zookeeper.", "confluent.", "producer.id.", "delegation.token.",
    ];

    /// <summary>All known keys in documentation order.</summary>
    public static readonly IReadOnlyList<ConfigKey> All =
    [
        // Identity, roles, quorum.
        new("node.id", ConfigType.Int, null, "This node's id, unique in the cluster; required.", Min: 0),
        new("broker.id", ConfigType.Int, null, "Legacy alias of node.id; if set it must equal node.id.", Min: 0),
        new("process.roles", ConfigType.List, "broker,controller", "Roles of this node: broker, controller, or both (combined mode). Kafka has no default; Kraft defaults to combined mode.", ValidValues: ["broker", "controller"]),
        new("controller.quorum.voters", ConfigType.List, null, "The metadata quorum as id@host:port,...; required (static quorum)."),
        new("controller.quorum.bootstrap.servers", ConfigType.List, "", "Controller listener addresses (host:port,...) where a broker-only node learns the voters when controller.quorum.voters is not set (KIP-853 bootstrap; the voter set itself is static)."),
        new("controller.quorum.election.timeout.ms", ConfigType.Int, "1000", "A follower waits this long (plus jitter) without a leader before standing for election.", Min: 1),
        new("controller.quorum.fetch.timeout.ms", ConfigType.Int, "2000", "No fetch response from the leader this long starts an election; a leader without fetches from a majority this long resigns (check-quorum).", Min: 1),
        new("controller.quorum.election.backoff.max.ms", ConfigType.Int, "1000", "Maximum back-off after a failed election.", Min: 1),
        new("controller.quorum.request.timeout.ms", ConfigType.Int, "2000", "Timeout of quorum RPCs.", Min: 1),
        new("controller.quorum.retry.backoff.ms", ConfigType.Int, "20", "Back-off before retrying a failed quorum RPC.", Min: 0),
        new("controller.quorum.append.linger.ms", ConfigType.Int, "25", "How long the leader waits to batch metadata records before appending.", Min: 0),
        new("metadata.log.segment.bytes", ConfigType.Int, "1073741824", "Segment size of the metadata log.", Min: 14),
        new("metadata.log.max.record.bytes.between.snapshots", ConfigType.Long, "20971520", "Bytes of metadata records after which a new snapshot is written.", Min: 1),
        new("broker.heartbeat.interval.ms", ConfigType.Int, "2000", "How often a broker heartbeats to the controller.", Min: 1),
        new("broker.session.timeout.ms", ConfigType.Int, "9000", "A broker without a heartbeat this long is fenced.", Min: 1),

        // Listeners.
        new("listeners", ConfigType.List, "PLAINTEXT://:9092", "Listeners as NAME://host:port; an empty host binds all interfaces, port 0 picks a free port."),
        new("advertised.listeners", ConfigType.List, null, "Addresses given to clients and other brokers; default: the listeners that are not controller listeners."),
        new("controller.listener.names", ConfigType.List, null, "Names of the listeners used by the controller quorum; required."),
        new("inter.broker.listener.name", ConfigType.String, null, "Listener other brokers use for replication; default: PLAINTEXT."),
        new("listener.security.protocol.map", ConfigType.List, "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL", "Security protocol per listener name; Kraft serves PLAINTEXT only (controller listener names map to PLAINTEXT unless set)."),
        new("security.inter.broker.protocol", ConfigType.String, "PLAINTEXT", "Legacy way to name the inter-broker listener.", ValidValues: ["PLAINTEXT"], Use: ConfigUse.Ignored, Note: "use inter.broker.listener.name"),
        new("http.listener", ConfigType.String, null, "Kraft extension: host:port of the HTTP listener serving /metrics (Prometheus) and /health; unset disables it.", Use: ConfigUse.KraftExtension),
        new("broker.rack", ConfigType.String, null, "Rack of this broker, for rack-aware replica placement."),

        // Storage.
        new("log.dirs", ConfigType.List, null, "Directories of partition logs; default: log.dir."),
        new("log.dir", ConfigType.String, "/tmp/kafka-logs", "The log directory when log.dirs is not set."),
        new("metadata.log.dir", ConfigType.String, null, "Directory of the metadata (Raft) log; default: the first log directory."),
        new("log.segment.bytes", ConfigType.Int, "1073741824", "Size at which a log segment rolls.", Min: 14),
        new("log.roll.hours", ConfigType.Int, "168", "Age at which a segment rolls (hours).", Min: 1),
        new("log.roll.ms", ConfigType.Long, null, "Age at which a segment rolls; takes precedence over log.roll.hours.", Min: 1),
        new("log.retention.hours", ConfigType.Int, "168", "Retention time in hours (lowest precedence).", Min: -1),
        new("log.retention.minutes", ConfigType.Int, null, "Retention time in minutes; over log.retention.hours.", Min: -1),
        new("log.retention.ms", ConfigType.Long, null, "Retention time in ms; over minutes and hours; -1 keeps data forever.", Min: -1),
        new("log.retention.bytes", ConfigType.Long, "-1", "Maximum partition size before old segments are deleted; -1 is unlimited.", Min: -1),
        new("log.retention.check.interval.ms", ConfigType.Long, "300000", "How often retention is checked.", Min: 1),
        new("log.index.interval.bytes", ConfigType.Int, "4096", "Bytes between offset index entries.", Min: 0),
        new("log.index.size.max.bytes", ConfigType.Int, "10485760", "Maximum size of an offset index file.", Min: 4),
        new("log.flush.interval.messages", ConfigType.Long, "9223372036854775807", "Messages appended before a partition log is fsynced (durability comes from replication).", Min: 1),
        new("log.flush.interval.ms", ConfigType.Long, null, "Time before a partition log is fsynced; unset: no time-based flush.", Min: 0),
        new("log.cleanup.policy", ConfigType.List, "delete", "Default cleanup.policy of topics: delete (retention), compact (latest record per key), or both.", ValidValues: ["delete", "compact"]),
        new("log.cleaner.enable", ConfigType.Boolean, "true", "Run the log cleaner thread (compaction of cleanup.policy=compact topics, __consumer_offsets included)."),
        new("log.cleaner.backoff.ms", ConfigType.Long, "15000", "Sleep of the log cleaner when no log needs cleaning.", Min: 0),
        new("log.cleaner.dedupe.buffer.size", ConfigType.Long, "134217728", "Memory for the cleaner's key map (24 bytes per key); bounds the work of one pass.", Min: 24),
        new("log.cleaner.min.cleanable.ratio", ConfigType.String, "0.5", "Default min.cleanable.dirty.ratio: clean a log when dirty bytes / cleanable bytes reach this."),
        new("log.cleaner.delete.retention.ms", ConfigType.Long, "86400000", "Default delete.retention.ms: how long tombstones are kept after their key's data.", Min: 0),

        // Replication and leadership.
        new("replica.lag.time.max.ms", ConfigType.Long, "30000", "A follower not caught up this long leaves the ISR.", Min: 1),
        new("replica.high.watermark.checkpoint.interval.ms", ConfigType.Long, "5000", "How often each partition's high watermark is written to disk.", Min: 1),
        new("replica.fetch.max.bytes", ConfigType.Int, "1048576", "Bytes a follower asks per partition per fetch.", Min: 0),
        new("replica.fetch.min.bytes", ConfigType.Int, "1", "Bytes a follower fetch waits for.", Min: 1),
        new("replica.fetch.wait.max.ms", ConfigType.Int, "500", "Longest a follower fetch waits at the leader; must be below replica.lag.time.max.ms.", Min: 0),
        new("replica.fetch.backoff.ms", ConfigType.Int, "1000", "Back-off after a failed follower fetch.", Min: 0),
        new("replica.socket.timeout.ms", ConfigType.Int, "30000", "Socket timeout of follower fetches.", Min: 1),
        new("num.replica.fetchers", ConfigType.Int, "1", "Fetcher threads per source broker.", Min: 1),
        new("min.insync.replicas", ConfigType.Int, "1", "acks=all needs at least this many in-sync replicas.", Min: 1),
        new("unclean.leader.election.enable", ConfigType.Boolean, "false", "Allow a replica outside the ISR to become leader (may lose data)."),
        new("default.replication.factor", ConfigType.Int, "1", "Replication factor of auto-created topics and of CreateTopics without one.", Min: 1, Max: short.MaxValue),
        new("num.partitions", ConfigType.Int, "1", "Partitions of auto-created topics and of CreateTopics without a count.", Min: 1),
        new("auto.create.topics.enable", ConfigType.Boolean, "true", "Create a topic when a client asks for metadata of an unknown one."),
        new("delete.topic.enable", ConfigType.Boolean, "true", "Allow DeleteTopics."),
        new("auto.leader.rebalance.enable", ConfigType.Boolean, "true", "Periodically move leadership back to preferred replicas."),
        new("leader.imbalance.per.broker.percentage", ConfigType.Int, "10", "Imbalance (percent of non-preferred leaders) that triggers a rebalance.", Min: 0, Max: 100),
        new("leader.imbalance.check.interval.seconds", ConfigType.Long, "300", "How often imbalance is checked.", Min: 1),

        // Groups and offsets.
        new("offsets.topic.num.partitions", ConfigType.Int, "50", "Partitions of __consumer_offsets (fixed once created).", Min: 1),
        new("offsets.topic.replication.factor", ConfigType.Short, "3", "Replication factor of __consumer_offsets.", Min: 1),
        new("offsets.topic.segment.bytes", ConfigType.Int, "104857600", "Segment size of __consumer_offsets.", Min: 1),
        new("offsets.retention.minutes", ConfigType.Int, "10080", "How long committed offsets of an empty group are kept.", Min: 1),
        new("offsets.retention.check.interval.ms", ConfigType.Long, "600000", "How often the coordinator looks for expired offsets.", Min: 1),
        new("group.initial.rebalance.delay.ms", ConfigType.Int, "3000", "Wait for more members before the first rebalance of an empty group.", Min: 0),
        new("group.min.session.timeout.ms", ConfigType.Int, "6000", "Smallest session timeout a consumer may ask for.", Min: 0),
        new("group.max.session.timeout.ms", ConfigType.Int, "1800000", "Largest session timeout a consumer may ask for.", Min: 0),

        // Requests and network.
        new("message.max.bytes", ConfigType.Int, "1048588", "Largest record batch accepted.", Min: 0),
        new("socket.request.max.bytes", ConfigType.Int, "104857600", "Largest request accepted on a connection.", Min: 1),
        new("request.timeout.ms", ConfigType.Int, "30000", "Timeout of requests this node sends (and the longest produce/fetch wait it grants).", Min: 0),
        new("connections.max.idle.ms", ConfigType.Long, "600000", "Idle connections are closed after this.", Min: 0),

        // Accepted and ignored.
        new("num.network.threads", ConfigType.Int, "3", "Network threads.", Min: 1, Use: ConfigUse.Ignored, Note: "connections run on the .NET thread pool"),
        new("num.io.threads", ConfigType.Int, "8", "Request handler threads.", Min: 1, Use: ConfigUse.Ignored, Note: "handlers run on the .NET thread pool"),
        new("background.threads", ConfigType.Int, "10", "Background threads.", Min: 1, Use: ConfigUse.Ignored, Note: "the .NET thread pool is used"),
        new("queued.max.requests", ConfigType.Int, "500", "Queued requests before the network stops reading.", Min: 1, Use: ConfigUse.Ignored, Note: "per-connection back-pressure comes from the pipelines"),
        new("socket.send.buffer.bytes", ConfigType.Int, "102400", "SO_SNDBUF.", Min: -1, Use: ConfigUse.Ignored, Note: "operating-system defaults are used"),
        new("socket.receive.buffer.bytes", ConfigType.Int, "102400", "SO_RCVBUF.", Min: -1, Use: ConfigUse.Ignored, Note: "operating-system defaults are used"),
        new("num.recovery.threads.per.data.dir", ConfigType.Int, "1", "Log recovery threads per directory.", Min: 1, Use: ConfigUse.Ignored, Note: "recovery is sequential"),
        new("compression.type", ConfigType.String, "producer", "Compression applied by the broker.", ValidValues: ["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"], Use: ConfigUse.Ignored, Note: "batches are stored as the producer sent them (producer)"),
        new("log.message.timestamp.type", ConfigType.String, "CreateTime", "Timestamp kept in batches.", ValidValues: ["CreateTime", "LogAppendTime"], Use: ConfigUse.Ignored, Note: "CreateTime is kept"),
        new("log.preallocate", ConfigType.Boolean, "false", "Zero-fill partition segments ahead of their data (fast fsyncs; worth it with log.flush.interval.messages=1)."),
        new("max.connections", ConfigType.Int, "2147483647", "Connection limit.", Min: 0, Use: ConfigUse.Ignored, Note: "not enforced yet"),
        new("group.coordinator.rebalance.protocols", ConfigType.List, "classic", "Group protocols.", Use: ConfigUse.Ignored, Note: "only the classic protocol exists"),
        new("inter.broker.protocol.version", ConfigType.String, null, "IBP.", Use: ConfigUse.Ignored, Note: "no version negotiation between Kraft nodes"),
        new("unstable.api.versions.enable", ConfigType.Boolean, "false", "Expose unreleased API versions.", Use: ConfigUse.Ignored, Note: "not applicable"),
    ];

    private static readonly Dictionary<string, ConfigKey> ByName = All.ToDictionary(k => k.Name, StringComparer.Ordinal);

    /// <summary>The definition of a key, or null if Kraft does not know it.</summary>
    public static ConfigKey? Find(string name) => ByName.GetValueOrDefault(name);

    /// <summary>Whether a key is under one of the <see cref="IgnoredPrefixes"/>.</summary>
    public static bool HasIgnoredPrefix(string name) => IgnoredPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal));
}
