using Kraft.Linearizability.Edn;
using Kraft.Linearizability.History;
using Kraft.Protocol;
using Kraft.Protocol.Client;

namespace Kraft.Linearizability.Harness;

/// <summary>
/// The <c>metadata</c> workload: concurrent clients create, delete and read a few topic names, recorded in the op
/// format of the <c>kraft-metadata</c> model (one linearizability partition per topic name). Reads go through the
/// active controller, not a broker's metadata image (which lags): a validate-only CreateTopics is forwarded to the
/// controller and answers TOPIC_ALREADY_EXISTS iff the controller's image holds the topic.
/// Invariants: only definite answers complete as <c>:ok</c>/<c>:fail</c> (success, TOPIC_ALREADY_EXISTS for a
/// create, UNKNOWN_TOPIC_OR_PARTITION for a delete); every other error and every exception is <c>:info</c> (a
/// NOT_CONTROLLER answer may follow an append that a later leader commits), and the process is then retired.
/// Thread-safe: one task per worker; the recorder is shared.
/// </summary>
public sealed class MetadataWorkload(RunOptions options, ProcessCluster cluster, HistoryRecorder recorder)
{
    private const int Topics = 4;
    private static readonly Keyword Exists = new("exists");
    private static readonly Keyword Configs = new("configs");

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
                string f = random.Next(4) switch { 0 => "create", 1 => "delete", _ => "read" };
                recorder.Append(process, EventType.Invoke, f, topic, null, null);
                (EventType Type, object? Value, object? Error) outcome;
                try
                {
                    outcome = options.BrokerReads && f == "read"
                        ? await BrokerReadAsync(client, topic).ConfigureAwait(false)
                        : await ExecuteAsync(client, f, topic).ConfigureAwait(false);
                }
                catch (KafkaClientException e)
                {
                    outcome = (EventType.Info, null, e.Message);
                }

                recorder.Append(process, outcome.Type, f, topic, outcome.Value, outcome.Error);
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
                var response = await client.CreateTopicsAsync([(topic, 1, (short)1)], timeoutMs: 2000, validateOnly: true).ConfigureAwait(false);
                short code = response.Topics.Single().ErrorCode;
                return code switch
                {
                    0 => (EventType.Ok, EdnWriter.Map(("exists", false)), null),
                    (short)ErrorCode.TOPIC_ALREADY_EXISTS => (EventType.Ok, new EdnMap([new(Exists, true), new(Configs, new EdnMap([]))]), null),
                    _ => (EventType.Info, null, ((ErrorCode)code).ToString()),
                };
            }
        }
    }
}
