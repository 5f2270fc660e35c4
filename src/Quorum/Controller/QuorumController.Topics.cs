using System.Buffers.Binary;
using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Controller;

/// <summary>Kafka's legal topic names: 1 to 249 characters of [a-zA-Z0-9._-], and not "." or "..".</summary>
public static class TopicNames
{
    public const int MaxLength = 249;

    /// <summary>Returns null when the name is legal, else the reason it is not.</summary>
    public static string? Validate(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "topic name is empty";
        }

        if (name is "." or "..")
        {
            return $"topic name cannot be '{name}'";
        }

        if (name.Length > MaxLength)
        {
            return $"topic name is {name.Length} characters long, the limit is {MaxLength}";
        }

        foreach (char c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                return $"topic name '{name}' contains '{c}'; legal characters are ASCII letters, digits, '.', '_' and '-'";
            }
        }

        return null;
    }

    /// <summary>Kafka treats '.' and '_' as the same in metric names, so topics differing only there collide.</summary>
    public static string CollisionKey(string name) => name.Replace('.', '_');
}

/// <summary>Topic operations: create, delete, add partitions.</summary>
public sealed partial class QuorumController
{
    /// <summary>The most partitions one CreateTopics/CreatePartitions may ask for per topic (bounds a batch).</summary>
    public const int MaxPartitionsPerTopic = 100_000;

    /// <summary>
    /// CreateTopics. Each topic is decided independently (one failing does not fail the others); successful
    /// topics produce TopicRecord, PartitionRecords (leader = first replica, ISR = all replicas, epochs 0) and
    /// ConfigRecords. Validate-only answers the same but writes nothing.
    /// </summary>
    public ControllerResult<IReadOnlyList<CreateTopicResult>> CreateTopics(CreateTopicsRequest request, long nowMs)
    {
        var results = new List<CreateTopicResult>();
        if (!IsActive)
        {
            results.AddRange(request.Topics.Select(t => new CreateTopicResult(t.Name, default, NotController, -1, -1)));
            return ControllerResult<IReadOnlyList<CreateTopicResult>>.Of(results);
        }

        var sink = new RecordSink(LatestImage);
        var duplicates = request.Topics.GroupBy(t => t.Name, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
        List<UsableBroker> usable = UsableBrokers(sink.Image);
        foreach (CreatableTopic topic in request.Topics)
        {
            int partitions = topic.Assignments?.Count ?? (topic.NumPartitions == -1 ? _config.DefaultNumPartitions : topic.NumPartitions);
            short replicationFactor = topic.Assignments is { Count: > 0 } a ? (short)a[0].Count
                : topic.ReplicationFactor == -1 ? _config.DefaultReplicationFactor : topic.ReplicationFactor;
            ApiError error = ValidateNewTopic(sink.Image, topic, partitions, replicationFactor, usable.Count, duplicates);
            if (!error.IsSuccess)
            {
                results.Add(new CreateTopicResult(topic.Name, default, error, -1, -1));
                continue;
            }

            if (request.ValidateOnly)
            {
                results.Add(new CreateTopicResult(topic.Name, default, ApiError.None, partitions, replicationFactor));
                continue;
            }

            TopicId id = NewTopicId(sink.Image);
            sink.Add(new TopicRecord(topic.Name, id));
            if (topic.Assignments is not null)
            {
                // Manual assignment: the ISR is the replicas that are live now, led by the first of them.
                for (int i = 0; i < topic.Assignments.Count; i++)
                {
                    ValueList<BrokerId> replicas = topic.Assignments[i].ToValueList();
                    ValueList<BrokerId> isr = replicas.Where(b => IsEligible(sink.Image, b)).ToValueList();
                    sink.Add(new PartitionRecord(id, i, replicas, isr, ValueList<BrokerId>.Empty, ValueList<BrokerId>.Empty, isr[0], 0, 0));
                }
            }
            else
            {
                IReadOnlyList<ValueList<BrokerId>> placement = ReplicaPlacer.Place(usable, partitions, replicationFactor, Rotation(id));
                for (int i = 0; i < placement.Count; i++)
                {
                    sink.Add(new PartitionRecord(id, i, placement[i], placement[i], ValueList<BrokerId>.Empty, ValueList<BrokerId>.Empty, placement[i][0], 0, 0));
                }
            }

            foreach (KeyValuePair<string, string?> config in (topic.Configs ?? new Dictionary<string, string?>()).OrderBy(c => c.Key, StringComparer.Ordinal))
            {
                sink.Add(new ConfigRecord(ConfigResourceType.Topic, topic.Name, config.Key, config.Value));
            }

            results.Add(new CreateTopicResult(topic.Name, id, ApiError.None, partitions, replicationFactor));
        }

        return Emit(sink, (IReadOnlyList<CreateTopicResult>)results);
    }

    /// <summary>DeleteTopics by name or id: RemoveTopic drops the topic, its partitions and its configs.</summary>
    public ControllerResult<IReadOnlyList<DeleteTopicResult>> DeleteTopics(DeleteTopicsRequest request, long nowMs)
    {
        var results = new List<DeleteTopicResult>();
        var sink = new RecordSink(LatestImage);
        var deleted = new HashSet<TopicId>();
        IEnumerable<(string? Name, TopicId? Id)> targets =
            request.Names.Select(n => ((string?)n, (TopicId?)null)).Concat((request.Ids ?? []).Select(i => ((string?)null, (TopicId?)i)));
        foreach ((string? name, TopicId? id) in targets)
        {
            if (!IsActive)
            {
                results.Add(new DeleteTopicResult(name, id ?? default, NotController));
                continue;
            }

            TopicImage? topic = name is not null ? sink.Image.Topic(name) : sink.Image.Topic(id!.Value);
            if (topic is null)
            {
                results.Add(new DeleteTopicResult(name, id ?? default, name is not null
                    ? ApiError.Of(ControllerErrorCode.UnknownTopicOrPartition, $"topic '{name}' does not exist")
                    : ApiError.Of(ControllerErrorCode.UnknownTopicId, $"topic id {id} does not exist")));
                continue;
            }

            if (!deleted.Add(topic.Id))
            {
                results.Add(new DeleteTopicResult(name, topic.Id, ApiError.Of(ControllerErrorCode.InvalidRequest, $"topic '{topic.Name}' is listed twice")));
                continue;
            }

            sink.Add(new RemoveTopicRecord(topic.Id));
            results.Add(new DeleteTopicResult(topic.Name, topic.Id, ApiError.None));
        }

        return Emit(sink, (IReadOnlyList<DeleteTopicResult>)results);
    }

    /// <summary>CreatePartitions: raises a topic's partition count (never lowers it), placing the new partitions
    /// with the topic's replication factor so the whole topic stays balanced.</summary>
    public ControllerResult<IReadOnlyList<CreatePartitionsResult>> CreatePartitions(CreatePartitionsRequest request, long nowMs)
    {
        var results = new List<CreatePartitionsResult>();
        var sink = new RecordSink(LatestImage);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        List<UsableBroker> usable = UsableBrokers(sink.Image);
        foreach (CreatePartitionsTopic item in request.Topics)
        {
            if (!IsActive)
            {
                results.Add(new CreatePartitionsResult(item.Name, NotController));
                continue;
            }

            TopicImage? topic = sink.Image.Topic(item.Name);
            ApiError error = ApiError.None;
            int current = topic?.Partitions.Count ?? 0;
            int replicationFactor = topic is null || current == 0 ? 0 : ReplicationFactorOf(topic.Partitions.Values.First());
            if (!seen.Add(item.Name))
            {
                error = ApiError.Of(ControllerErrorCode.InvalidRequest, $"topic '{item.Name}' is listed twice");
            }
            else if (topic is null)
            {
                error = ApiError.Of(ControllerErrorCode.UnknownTopicOrPartition, $"topic '{item.Name}' does not exist");
            }
            else if (item.Count <= current)
            {
                error = ApiError.Of(ControllerErrorCode.InvalidPartitions,
                    $"topic '{item.Name}' has {current} partitions; the new count {item.Count} must be higher");
            }
            else if (item.Count > MaxPartitionsPerTopic)
            {
                error = ApiError.Of(ControllerErrorCode.InvalidPartitions, $"{item.Count} partitions exceed the limit of {MaxPartitionsPerTopic}");
            }
            else if (replicationFactor > usable.Count)
            {
                error = ApiError.Of(ControllerErrorCode.InvalidReplicationFactor,
                    $"replication factor {replicationFactor} is larger than the {usable.Count} available brokers");
            }

            if (error.IsSuccess && !request.ValidateOnly)
            {
                IReadOnlyList<ValueList<BrokerId>> placement = ReplicaPlacer.Place(
                    usable, item.Count - current, replicationFactor, Rotation(topic!.Id) + current,
                    topic.Partitions.Values.Select(p => (IReadOnlyList<BrokerId>)p.Replicas).ToList());
                for (int i = 0; i < placement.Count; i++)
                {
                    sink.Add(new PartitionRecord(topic.Id, current + i, placement[i], placement[i], ValueList<BrokerId>.Empty, ValueList<BrokerId>.Empty, placement[i][0], 0, 0));
                }
            }

            results.Add(new CreatePartitionsResult(item.Name, error));
        }

        return Emit(sink, (IReadOnlyList<CreatePartitionsResult>)results);
    }

    private ApiError ValidateNewTopic(MetadataImage image, CreatableTopic topic, int partitions, short replicationFactor, int usableBrokers, HashSet<string> duplicates)
    {
        if (TopicNames.Validate(topic.Name) is { } nameProblem)
        {
            return ApiError.Of(ControllerErrorCode.InvalidTopicException, nameProblem);
        }

        if (duplicates.Contains(topic.Name))
        {
            return ApiError.Of(ControllerErrorCode.InvalidRequest, $"topic '{topic.Name}' is listed twice in the request");
        }

        if (image.Topic(topic.Name) is not null)
        {
            return ApiError.Of(ControllerErrorCode.TopicAlreadyExists, $"topic '{topic.Name}' already exists");
        }

        string key = TopicNames.CollisionKey(topic.Name);
        if (image.TopicsByName.Keys.FirstOrDefault(n => TopicNames.CollisionKey(n) == key) is { } collision)
        {
            return ApiError.Of(ControllerErrorCode.InvalidTopicException, $"topic '{topic.Name}' collides with existing topic '{collision}' ('.' and '_' are the same in metric names)");
        }

        if (topic.Assignments is not null)
        {
            if (topic.NumPartitions != -1 || topic.ReplicationFactor != -1)
            {
                return ApiError.Of(ControllerErrorCode.InvalidRequest, "with replica assignments, the number of partitions and the replication factor must both be -1");
            }

            if (ValidateAssignments(image, topic.Assignments) is { } assignmentProblem)
            {
                return ApiError.Of(ControllerErrorCode.InvalidReplicaAssignment, assignmentProblem);
            }
        }

        if (partitions < 1 || partitions > MaxPartitionsPerTopic)
        {
            return ApiError.Of(ControllerErrorCode.InvalidPartitions, $"number of partitions {partitions} must be between 1 and {MaxPartitionsPerTopic}");
        }

        if (replicationFactor < 1)
        {
            return ApiError.Of(ControllerErrorCode.InvalidReplicationFactor, $"replication factor {replicationFactor} must be at least 1");
        }

        if (replicationFactor > usableBrokers && topic.Assignments is null)
        {
            return ApiError.Of(ControllerErrorCode.InvalidReplicationFactor, $"replication factor {replicationFactor} is larger than the {usableBrokers} available brokers");
        }

        foreach (KeyValuePair<string, string?> config in topic.Configs ?? new Dictionary<string, string?>())
        {
            ConfigDefinition? definition = ConfigDefinitions.Topic(config.Key);
            if (definition is null)
            {
                return ApiError.Of(ControllerErrorCode.InvalidConfig, $"unknown topic config '{config.Key}'");
            }

            if (config.Value is null)
            {
                return ApiError.Of(ControllerErrorCode.InvalidConfig, $"topic config '{config.Key}' has a null value");
            }

            if (definition.Validate(config.Value) is { } valueProblem)
            {
                return ApiError.Of(ControllerErrorCode.InvalidConfig, valueProblem);
            }
        }

        return ApiError.None;
    }

    private string? ValidateAssignments(MetadataImage image, IReadOnlyList<IReadOnlyList<BrokerId>> assignments)
    {
        for (int i = 0; i < assignments.Count; i++)
        {
            IReadOnlyList<BrokerId> replicas = assignments[i];
            if (replicas.Count == 0 || replicas.Distinct().Count() != replicas.Count)
            {
                return $"partition {i}: replicas [{string.Join(",", replicas)}] must be non-empty and distinct";
            }

            if (replicas.Count != assignments[0].Count)
            {
                return $"partition {i} has {replicas.Count} replicas but partition 0 has {assignments[0].Count}";
            }

            if (replicas.FirstOrDefault(b => image.Broker(b) is null, BrokerId.None) is var unknown && unknown != BrokerId.None)
            {
                return $"partition {i}: broker {unknown} is not registered";
            }

            if (!replicas.Any(b => IsEligible(image, b)))
            {
                return $"partition {i}: every assigned broker is fenced";
            }
        }

        return null;
    }

    private List<UsableBroker> UsableBrokers(MetadataImage image) =>
        image.Brokers.Values.Where(b => IsEligible(image, b.Id)).Select(b => new UsableBroker(b.Id, b.Rack)).ToList();

    private static int ReplicationFactorOf(PartitionRegistration p) => p.Replicas.Count - p.RemovingReplicas.Count;

    private TopicId NewTopicId(MetadataImage image)
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            var id = new TopicId(_newTopicId());
            if (id.Value != Guid.Empty && image.Topic(id) is null)
            {
                return id;
            }
        }

        throw new InvalidOperationException("bug: the topic id source keeps returning used or empty ids");
    }

    private static int Rotation(TopicId id)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.Value.TryWriteBytes(bytes);
        return BinaryPrimitives.ReadInt32LittleEndian(bytes) & int.MaxValue;
    }
}
