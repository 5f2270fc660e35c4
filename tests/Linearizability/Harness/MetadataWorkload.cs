using Kraft.Linearizability.Edn;
using Kraft.Linearizability.History;
using Kraft.Protocol;
using Kraft.Protocol.Client;
using Kraft.Protocol.Messages;

namespace Kraft.Linearizability.Harness;

/// <summary>
/// The <c>metadata</c> workload: concurrent clients create, delete, set a config of (IncrementalAlterConfigs SET or
/// DELETE of <c>retention.ms</c>, unique values) and read a few topic names, recorded in the op format of the
/// <c>kraft-metadata</c> model (one linearizability partition per topic name). Reads go through the active controller,
/// not a broker's metadata image (which lags): a DescribeConfigs of the topic is forwarded to the controller, which
/// answers from its committed image after every earlier write has committed (UNKNOWN_TOPIC_OR_PARTITION iff the topic
/// is absent, else its own <c>retention.ms</c> if set: config source TOPIC_CONFIG).
/// Invariants: only definite answers complete as <c>:ok</c>/<c>:fail</c> (success, TOPIC_ALREADY_EXISTS for a
/// create, UNKNOWN_TOPIC_OR_PARTITION for a delete or a set-config); every other error and every exception is <c>:info</c> (a
/// NOT_CONTROLLER answer may follow an append that a later leader commits), and the process is then retired.
/// Thread-safe: one task per worker; the recorder is shared.
/// </summary>
public sealed class MetadataWorkload(RunOptions options, ProcessCluster cluster, HistoryRecorder recorder)
{
    private const int Topics = 4;
    private static readonly Keyword Exists = new("exists");
    private static readonly Keyword Configs = new("configs");
    private const string ConfigName = "retention.ms";
    private const sbyte TopicResource = 2;
    private const sbyte ConfigSet = 0;
    private const sbyte ConfigDelete = 1;
    private const sbyte TopicConfigSource = 1;
    private long nextConfigValue;

    /// <summary>Runs the workers until <paramref name="stop"/> fires.</summary>
    public Task RunAsync(CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, options.Producers).Select(w => WorkerAsync(w, stop)));

    private KafkaClient NewClient(int rotation)
    {
        var servers = cluster.BootstrapServers;
        int shift = rotation % servers.Count;
        return new KafkaClient(new KafkaClientOptions
        {
            BootstrapServers = servers.Skip(shift).Concat(servers.Take(shift)).ToList(),
            RequestTimeout = TimeSpan.FromSeconds(3),
            ConnectTimeout = TimeSpan.FromSeconds(2),
            ClientId = "jepsen-metadata",
        });
    }

    private async Task WorkerAsync(int worker, CancellationToken stop)
    {
        var random = new Random(options.Seed + (worker * 104729));
        long process = worker;
        int rotation = worker;
        var client = NewClient(rotation);
        double meanDelayMs = 1000.0 * options.Producers / options.Rate;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(random.NextDouble() * 2 * meanDelayMs), stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                string topic = "jepsen-meta-" + random.Next(Topics);
                // Broker reads see no configs at all (Metadata carries none), so that mode keeps to create/delete/read:
                // its verdict must come from the stale images alone.
                string f = random.Next(options.BrokerReads ? 4 : 6) switch { 0 => "create", 1 => "delete", 2 or 3 => "read", _ => "set-config" };
                object? argument = f == "set-config"
                    ? EdnWriter.Vector(ConfigName, random.Next(4) == 0 ? null : (60000 + Interlocked.Increment(ref nextConfigValue)).ToString(System.Globalization.CultureInfo.InvariantCulture))
                    : null;
                recorder.Append(process, EventType.Invoke, f, topic, argument, null);
                (EventType Type, object? Value, object? Error) outcome;
                try
                {
                    outcome = options.BrokerReads && f == "read"
                        ? await BrokerReadAsync(client, topic).ConfigureAwait(false)
                        : f == "set-config"
                            ? await SetConfigAsync(client, topic, argument).ConfigureAwait(false)
                            : await ExecuteAsync(client, f, topic).ConfigureAwait(false);
                }
                catch (KafkaClientException e)
                {
                    outcome = (EventType.Info, null, e.Message);
                }

                recorder.Append(process, outcome.Type, f, topic, f == "set-config" ? argument : outcome.Value, outcome.Error);
                if (outcome.Type == EventType.Info)
                {
                    process += options.Producers;
                    await client.DisposeAsync().ConfigureAwait(false);
                    client = NewClient(++rotation);
                }
            }
        }
        finally
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The unsafe read: whatever the bootstrap broker's metadata image says (it lags the controller).</summary>
    private static async Task<(EventType, object?, object?)> BrokerReadAsync(KafkaClient client, string topic)
    {
        var response = await client.MetadataAsync([topic]).ConfigureAwait(false);
        var found = response.Topics.SingleOrDefault(t => t.Name == topic);
        return found?.ErrorCode switch
        {
            0 => (EventType.Ok, new EdnMap([new(Exists, true), new(Configs, new EdnMap([]))]), null),
            (short)ErrorCode.UNKNOWN_TOPIC_OR_PARTITION or null => (EventType.Ok, EdnWriter.Map(("exists", false)), null),
            var code => (EventType.Info, null, ((ErrorCode)code!.Value).ToString()),
        };
    }

    private static async Task<(EventType, object?, object?)> ExecuteAsync(KafkaClient client, string f, string topic)
    {
        switch (f)
        {
            case "create":
            {
                var response = await client.CreateTopicsAsync([(topic, 1, (short)1)], timeoutMs: 2000).ConfigureAwait(false);
                short code = response.Topics.Single().ErrorCode;
                return code switch
                {
                    0 => (EventType.Ok, null, null),
                    (short)ErrorCode.TOPIC_ALREADY_EXISTS => (EventType.Fail, null, new Keyword("topic-exists")),
                    _ => (EventType.Info, null, ((ErrorCode)code).ToString()),
                };
            }

            case "delete":
            {
                var response = await client.DeleteTopicsAsync([topic], timeoutMs: 2000).ConfigureAwait(false);
                short code = response.Responses.Single().ErrorCode;
                return code switch
                {
                    0 => (EventType.Ok, null, null),
                    (short)ErrorCode.UNKNOWN_TOPIC_OR_PARTITION => (EventType.Fail, null, new Keyword("unknown-topic")),
                    _ => (EventType.Info, null, ((ErrorCode)code).ToString()),
                };
            }

            default:
            {
                var connection = await client.GetBootstrapConnectionAsync().ConfigureAwait(false);
                var response = await connection.SendAsync<DescribeConfigsResponse>(new DescribeConfigsRequest
                {
                    Resources = [new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = TopicResource, ResourceName = topic, ConfigurationKeys = [ConfigName] }],
                }).ConfigureAwait(false);
                var result = response.Results.Single();
                if (result.ErrorCode == 0)
                {
                    var own = result.Configs.Where(c => c.Name == ConfigName && c.ConfigSource == TopicConfigSource && c.Value is not null)
                        .Select(c => new KeyValuePair<object?, object?>(c.Name, c.Value)).ToList();
                    return (EventType.Ok, new EdnMap([new(Exists, true), new(Configs, new EdnMap(own))]), null);
                }

                return result.ErrorCode == (short)ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                    ? (EventType.Ok, EdnWriter.Map(("exists", false)), null)
                    : (EventType.Info, null, ((ErrorCode)result.ErrorCode).ToString());
            }
        }
    }

    /// <summary>IncrementalAlterConfigs on the topic: SET <c>[name value]</c>, or DELETE when the value is nil.</summary>
    private static async Task<(EventType, object?, object?)> SetConfigAsync(KafkaClient client, string topic, object? argument)
    {
        var pair = (EdnSeq)argument!;
        string? value = pair.Items[1] as string;
        var connection = await client.GetBootstrapConnectionAsync().ConfigureAwait(false);
        var response = await connection.SendAsync<IncrementalAlterConfigsResponse>(new IncrementalAlterConfigsRequest
        {
            Resources =
            [
                new IncrementalAlterConfigsRequest.AlterConfigsResource
                {
                    ResourceType = TopicResource,
                    ResourceName = topic,
                    Configs = [new IncrementalAlterConfigsRequest.AlterableConfig { Name = ConfigName, ConfigOperation = value is null ? ConfigDelete : ConfigSet, Value = value }],
                },
            ],
        }).ConfigureAwait(false);
        short code = response.Responses.Single().ErrorCode;
        return code switch
        {
            0 => (EventType.Ok, null, null),
            (short)ErrorCode.UNKNOWN_TOPIC_OR_PARTITION => (EventType.Fail, null, new Keyword("unknown-topic")),
            _ => (EventType.Info, null, ((ErrorCode)code).ToString()),
        };
    }
}
