using System.Globalization;
using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Controller;

/// <summary>Dynamic configs: IncrementalAlterConfigs and DescribeConfigs for topics, brokers and the cluster default.</summary>
public sealed partial class QuorumController
{
    /// <summary>
    /// IncrementalAlterConfigs (KIP-339). Each resource is all-or-nothing: one bad operation refuses the
    /// resource and writes none of its changes. SET needs a valid value; DELETE removes an explicit value (the
    /// default applies again); APPEND/SUBTRACT work on list configs, starting from the current value or the
    /// default. Unknown names and ill-typed values are INVALID_CONFIG; unknown topics UNKNOWN_TOPIC_OR_PARTITION.
    /// </summary>
    public ControllerResult<IReadOnlyList<AlterConfigsResult>> IncrementalAlterConfigs(IncrementalAlterConfigsRequest request, long nowMs)
    {
        var results = new List<AlterConfigsResult>();
        var sink = new RecordSink(LatestImage);
        var duplicates = request.Resources.GroupBy(r => r.Resource).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet();
        foreach (AlterConfigsResource resource in request.Resources)
        {
            if (!IsActive)
            {
                results.Add(new AlterConfigsResult(resource.Resource, NotController));
                continue;
            }

            if (duplicates.Contains(resource.Resource))
            {
                results.Add(new AlterConfigsResult(resource.Resource, ApiError.Of(ControllerErrorCode.InvalidRequest, $"resource {resource.Resource} is listed twice")));
                continue;
            }

            var changes = new List<ConfigRecord>();
            ApiError error = PlanConfigChanges(sink.Image, resource, changes);
            if (error.IsSuccess && !request.ValidateOnly)
            {
                foreach (ConfigRecord change in changes)
                {
                    sink.Add(change);
                }
            }

            results.Add(new AlterConfigsResult(resource.Resource, error));
        }

        return Emit(sink, (IReadOnlyList<AlterConfigsResult>)results);
    }

    /// <summary>
    /// DescribeConfigs from the committed image. A topic config's value comes from, in order: the topic
    /// (TOPIC_CONFIG), the cluster-wide dynamic default of its broker synonym (DYNAMIC_DEFAULT_BROKER_CONFIG),
    /// the static broker config (STATIC_BROKER_CONFIG), Kafka's default (DEFAULT_CONFIG). A broker config: the
    /// broker's own dynamic value, then the cluster default, static, default. The cluster default resource
    /// (broker "") lists only what is set. Writes nothing.
    /// </summary>
    public ControllerResult<IReadOnlyList<DescribeConfigsResult>> DescribeConfigs(IReadOnlyList<DescribeConfigsResource> resources)
    {
        var results = new List<DescribeConfigsResult>();
        MetadataImage image = CommittedImage;
        foreach (DescribeConfigsResource request in resources)
        {
            ConfigResource resource = request.Resource;
            ApiError error = ValidateResource(image, resource);
            if (!error.IsSuccess)
            {
                results.Add(new DescribeConfigsResult(resource, error, []));
                continue;
            }

            var entries = new List<DescribedConfig>();
            IReadOnlyList<ConfigDefinition> definitions = resource.Type == ConfigResourceType.Topic ? ConfigDefinitions.TopicConfigs : ConfigDefinitions.BrokerConfigs;
            foreach (ConfigDefinition definition in definitions)
            {
                if (request.Keys is not null && !request.Keys.Contains(definition.Name))
                {
                    continue;
                }

                (string? value, ConfigSource source) = Resolve(image, resource, definition);
                if (resource.IsClusterDefault && source != ConfigSource.DynamicDefaultBrokerConfig)
                {
                    continue;
                }

                entries.Add(new DescribedConfig(definition.Name, value, source, source == ConfigSource.DefaultConfig, ReadOnly: false, IsSensitive: false, definition.Type));
            }

            results.Add(new DescribeConfigsResult(resource, ApiError.None, entries));
        }

        return ControllerResult<IReadOnlyList<DescribeConfigsResult>>.Of(results);
    }

    private (string? Value, ConfigSource Source) Resolve(MetadataImage image, ConfigResource resource, ConfigDefinition definition)
    {
        string brokerName = resource.Type == ConfigResourceType.Topic ? definition.BrokerSynonym! : definition.Name;
        if (image.ConfigValue(resource, definition.Name) is { } own)
        {
            return (own, resource.Type == ConfigResourceType.Topic ? ConfigSource.TopicConfig
                : resource.IsClusterDefault ? ConfigSource.DynamicDefaultBrokerConfig : ConfigSource.DynamicBrokerConfig);
        }

        if (image.ConfigValue(ConfigResource.Cluster, brokerName) is { } clusterDefault)
        {
            return (clusterDefault, ConfigSource.DynamicDefaultBrokerConfig);
        }

        if (StaticValue(brokerName) is { } staticValue)
        {
            return (staticValue, ConfigSource.StaticBrokerConfig);
        }

        return (definition.Default, ConfigSource.DefaultConfig);
    }

    private string? StaticValue(string brokerConfigName)
    {
        if (_config.StaticBrokerConfigs.TryGetValue(brokerConfigName, out string? value))
        {
            return value;
        }

        return brokerConfigName == ConfigDefinitions.UncleanLeaderElectionEnable && _config.UncleanLeaderElectionEnable ? "true" : null;
    }

    private static ApiError ValidateResource(MetadataImage image, ConfigResource resource)
    {
        switch (resource.Type)
        {
            case ConfigResourceType.Topic:
                return image.Topic(resource.Name) is null
                    ? ApiError.Of(ControllerErrorCode.UnknownTopicOrPartition, $"topic '{resource.Name}' does not exist")
                    : ApiError.None;
            case ConfigResourceType.Broker:
                return resource.IsClusterDefault || (int.TryParse(resource.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int id) && id >= 0)
                    ? ApiError.None
                    : ApiError.Of(ControllerErrorCode.InvalidRequest, $"broker resource name '{resource.Name}' is neither a broker id nor empty (the cluster default)");
            default:
                return ApiError.Of(ControllerErrorCode.InvalidRequest, $"config resource type {(byte)resource.Type} is not supported");
        }
    }

    private ApiError PlanConfigChanges(MetadataImage image, AlterConfigsResource resource, List<ConfigRecord> changes)
    {
        ApiError error = ValidateResource(image, resource.Resource);
        if (!error.IsSuccess)
        {
            return error;
        }

        if (resource.Configs.GroupBy(c => c.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            return ApiError.Of(ControllerErrorCode.InvalidRequest, $"config '{twice.Key}' is altered twice in one request");
        }

        foreach (AlterableConfig op in resource.Configs)
        {
            ConfigDefinition? definition = resource.Resource.Type == ConfigResourceType.Topic
                ? ConfigDefinitions.Topic(op.Name)
                : ConfigDefinitions.Broker(op.Name);
            if (definition is null)
            {
                return ApiError.Of(ControllerErrorCode.InvalidConfig, $"unknown {(resource.Resource.Type == ConfigResourceType.Topic ? "topic" : "broker")} config '{op.Name}'");
            }

            string? current = image.ConfigValue(resource.Resource, op.Name);
            string? next;
            switch (op.Op)
            {
                case AlterConfigOp.Set:
                    if (op.Value is null)
                    {
                        return ApiError.Of(ControllerErrorCode.InvalidConfig, $"SET of '{op.Name}' needs a value");
                    }

                    next = op.Value;
                    break;
                case AlterConfigOp.Delete:
                    next = null;
                    break;
                case AlterConfigOp.Append:
                case AlterConfigOp.Subtract:
                {
                    if (definition.Type != ConfigType.List)
                    {
                        return ApiError.Of(ControllerErrorCode.InvalidConfig, $"{op.Op} applies to list configs only; '{op.Name}' is {definition.Type}");
                    }

                    if (op.Value is null)
                    {
                        return ApiError.Of(ControllerErrorCode.InvalidConfig, $"{op.Op} of '{op.Name}' needs a value");
                    }

                    List<string> items = [.. ConfigDefinition.SplitList(current ?? definition.Default)];
                    IReadOnlyList<string> operand = ConfigDefinition.SplitList(op.Value);
                    if (op.Op == AlterConfigOp.Append)
                    {
                        items.AddRange(operand.Where(v => !items.Contains(v)).Distinct());
                    }
                    else
                    {
                        items.RemoveAll(operand.Contains);
                    }

                    next = string.Join(",", items);
                    break;
                }

                default:
                    return ApiError.Of(ControllerErrorCode.InvalidRequest, $"unknown alter-config operation {(byte)op.Op}");
            }

            if (next is not null && definition.Validate(next) is { } problem)
            {
                return ApiError.Of(ControllerErrorCode.InvalidConfig, problem);
            }

            if (next != current)
            {
                changes.Add(new ConfigRecord(resource.Resource.Type, resource.Resource.Name, op.Name, next));
            }
        }

        return ApiError.None;
    }
}
