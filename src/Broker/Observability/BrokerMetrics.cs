using System.Diagnostics;
using System.Diagnostics.Metrics;
using Kraft.Protocol;

namespace Kraft.Broker.Observability;

/// <summary>
/// The broker's instruments (meter "Kraft.Broker"), recorded on the request path and by replicas; exported by
/// <see cref="PrometheusExporter"/> at /metrics. Names follow Kraft's convention (dots, unit given); the exporter
/// turns them into Prometheus names (e.g. kraft_broker_request_latency_seconds). Kafka's JMX equivalents are in
/// docs/operations.md. Thread-safe: instruments are.
/// </summary>
public static class BrokerMetrics
{
    public static readonly Meter Meter = new("Kraft.Broker");

    /// <summary>Kafka: kafka.network:type=RequestMetrics,name=TotalTimeMs,request=X (its count is RequestsPerSec).</summary>
    public static readonly Histogram<double> RequestLatency = Meter.CreateHistogram<double>("kraft.broker.request.latency", "ms", "Time from a request's decoding to its response, by API");

    /// <summary>Kafka: kafka.server:type=BrokerTopicMetrics,name=FailedProduceRequestsPerSec / FailedFetchRequestsPerSec, by error.</summary>
    public static readonly Counter<long> PartitionErrors = Meter.CreateCounter<long>("kraft.broker.errors", "{error}", "Error codes returned per partition in Produce and Fetch answers, by API and Kafka error name");

    /// <summary>Kafka: kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,topic=T.</summary>
    public static readonly Counter<long> BytesIn = Meter.CreateCounter<long>("kraft.broker.topic.received", "By", "Bytes of record batches appended by producers, by topic");

    /// <summary>Kafka: kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec,topic=T.</summary>
    public static readonly Counter<long> BytesOut = Meter.CreateCounter<long>("kraft.broker.topic.sent", "By", "Bytes of record batches returned to consumers (not to followers), by topic");

    /// <summary>Kafka: kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=T (records appended to a log led here, internal topics included).</summary>
    public static readonly Counter<long> RecordsIn = Meter.CreateCounter<long>("kraft.broker.topic.records.received", "{records}", "Records appended to partitions led here (by producers and the group coordinator), by topic");

    /// <summary>Kafka: kafka.server:type=ReplicaManager,name=IsrShrinksPerSec.</summary>
    public static readonly Counter<long> IsrShrinks = Meter.CreateCounter<long>("kraft.broker.isr.shrinks", "{change}", "ISR shrinks committed for partitions led here");

    /// <summary>Kafka: kafka.server:type=ReplicaManager,name=IsrExpandsPerSec.</summary>
    public static readonly Counter<long> IsrExpands = Meter.CreateCounter<long>("kraft.broker.isr.expands", "{change}", "ISR expansions committed for partitions led here");

    /// <summary>Retried batches of idempotent producers recognised as already stored (answered, not appended again).</summary>
    public static readonly Counter<long> DuplicateBatches = Meter.CreateCounter<long>("kraft.broker.produce.duplicates", "{batch}", "Idempotent producers' retried batches answered from the log instead of appended twice");

    public static void RecordRequest(ApiKey api, long startTimestamp)
    {
        RequestLatency.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds, new KeyValuePair<string, object?>("api", api.ToString()));
    }

    public static void RecordPartitionError(ApiKey api, short errorCode)
    {
        if (errorCode != 0)
        {
            PartitionErrors.Add(1, new("api", api.ToString()), new("error", ((ErrorCode)errorCode).ToString()));
        }
    }
}
