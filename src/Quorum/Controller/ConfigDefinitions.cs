using System.Globalization;

namespace Kraft.Quorum.Controller;

/// <summary>Kafka's ConfigType values as reported by DescribeConfigs v3+.</summary>
public enum ConfigType : byte
{
    Unknown = 0,
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

/// <summary>
/// One config Kraft knows: its Kafka name, value type, default, the broker-level synonym that supplies the
/// cluster-wide default for a topic config, and the legal values. Immutable.
/// </summary>
public sealed record ConfigDefinition(
    string Name,
    ConfigType Type,
    string Default,
    string? BrokerSynonym = null,
    double? Min = null,
    double? Max = null,
    IReadOnlyList<string>? AllowedValues = null)
{
    /// <summary>Checks a value against the type, range and allowed values; returns null when valid, else why not.</summary>
    public string? Validate(string value)
    {
        switch (Type)
        {
            case ConfigType.Boolean:
                return value.Equals("true", StringComparison.OrdinalIgnoreCase) || value.Equals("false", StringComparison.OrdinalIgnoreCase)
                    ? null
                    : $"{Name} must be true or false, not '{value}'";
            case ConfigType.Int:
                return int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int i) ? CheckRange(i) : $"{Name} must be an int, not '{value}'";
            case ConfigType.Long:
                return long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l) ? CheckRange(l) : $"{Name} must be a long, not '{value}'";
            case ConfigType.Double:
                return double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d)
                    ? CheckRange(d)
                    : $"{Name} must be a number, not '{value}'";
            case ConfigType.List:
                foreach (string item in SplitList(value))
                {
                    if (AllowedValues is not null && !AllowedValues.Contains(item))
                    {
                        return $"{Name}: '{item}' is not one of {string.Join(", ", AllowedValues)}";
                    }
                }

                return null;
            default:
                return AllowedValues is not null && !AllowedValues.Contains(value)
                    ? $"{Name}: '{value}' is not one of {string.Join(", ", AllowedValues)}"
                    : null;
        }
    }

    public static IReadOnlyList<string> SplitList(string value) =>
        value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    private string? CheckRange(double v) =>
        (Min is { } min && v < min) || (Max is { } max && v > max)
            ? $"{Name} must be in [{Min?.ToString(CultureInfo.InvariantCulture) ?? "-inf"}, {Max?.ToString(CultureInfo.InvariantCulture) ?? "+inf"}], not {v.ToString(CultureInfo.InvariantCulture)}"
            : null;
}

/// <summary>
/// The table of topic configs and dynamic broker configs Kraft accepts, with Kafka's names, types and defaults.
/// Unknown names are refused with INVALID_CONFIG rather than stored, so a typo cannot silently do nothing.
/// Static; any thread.
/// </summary>
public static class ConfigDefinitions
{
    public const string UncleanLeaderElectionEnable = "unclean.leader.election.enable";
    public const string MinInsyncReplicas = "min.insync.replicas";

    private const string LongMax = "9223372036854775807";

    public static readonly IReadOnlyList<ConfigDefinition> TopicConfigs =
    [
        new("cleanup.policy", ConfigType.List, "delete", "log.cleanup.policy", AllowedValues: ["delete", "compact"]),
        new("compression.type", ConfigType.String, "producer", "compression.type", AllowedValues: ["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        new("delete.retention.ms", ConfigType.Long, "86400000", "log.cleaner.delete.retention.ms", Min: 0),
        new("file.delete.delay.ms", ConfigType.Long, "60000", "log.segment.delete.delay.ms", Min: 0),
        new("flush.messages", ConfigType.Long, LongMax, "log.flush.interval.messages", Min: 1),
        new("flush.ms", ConfigType.Long, LongMax, "log.flush.interval.ms", Min: 0),
        new("index.interval.bytes", ConfigType.Int, "4096", "log.index.interval.bytes", Min: 0),
        new("max.compaction.lag.ms", ConfigType.Long, LongMax, "log.cleaner.max.compaction.lag.ms", Min: 1),
        new("max.message.bytes", ConfigType.Int, "1048588", "message.max.bytes", Min: 0),
        new("message.timestamp.type", ConfigType.String, "CreateTime", "log.message.timestamp.type", AllowedValues: ["CreateTime", "LogAppendTime"]),
        new("message.timestamp.before.max.ms", ConfigType.Long, LongMax, "log.message.timestamp.before.max.ms", Min: 0),
        new("message.timestamp.after.max.ms", ConfigType.Long, LongMax, "log.message.timestamp.after.max.ms", Min: 0),
        new("min.cleanable.dirty.ratio", ConfigType.Double, "0.5", "log.cleaner.min.cleanable.ratio", Min: 0, Max: 1),
        new("min.compaction.lag.ms", ConfigType.Long, "0", "log.cleaner.min.compaction.lag.ms", Min: 0),
        new(MinInsyncReplicas, ConfigType.Int, "1", MinInsyncReplicas, Min: 1),
        new("preallocate", ConfigType.Boolean, "false", "log.preallocate"),
        new("retention.bytes", ConfigType.Long, "-1", "log.retention.bytes"),
        new("retention.ms", ConfigType.Long, "604800000", "log.retention.ms", Min: -1),
        new("segment.bytes", ConfigType.Int, "1073741824", "log.segment.bytes", Min: 14),
        new("segment.index.bytes", ConfigType.Int, "10485760", "log.index.size.max.bytes", Min: 4),
        new("segment.jitter.ms", ConfigType.Long, "0", "log.roll.jitter.ms", Min: 0),
        new("segment.ms", ConfigType.Long, "604800000", "log.roll.ms", Min: 1),
        new(UncleanLeaderElectionEnable, ConfigType.Boolean, "false", UncleanLeaderElectionEnable),
    ];

    /// <summary>Dynamic broker configs: the broker-level synonyms of the topic configs (same types and defaults).</summary>
    public static readonly IReadOnlyList<ConfigDefinition> BrokerConfigs =
        TopicConfigs.Select(t => t with { Name = t.BrokerSynonym!, BrokerSynonym = null }).ToList();

    private static readonly Dictionary<string, ConfigDefinition> TopicByName = TopicConfigs.ToDictionary(c => c.Name, StringComparer.Ordinal);
    private static readonly Dictionary<string, ConfigDefinition> BrokerByName = BrokerConfigs.ToDictionary(c => c.Name, StringComparer.Ordinal);

    public static ConfigDefinition? Topic(string name) => TopicByName.GetValueOrDefault(name);

    public static ConfigDefinition? Broker(string name) => BrokerByName.GetValueOrDefault(name);
}
