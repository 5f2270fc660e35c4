using System.Diagnostics.Metrics;
using Kraft.Broker.Configuration;
using Kraft.Broker.Node;
using Kraft.Broker.Observability;
using Kraft.Quorum.Raft;
using Kraft.Quorum.RaftDriver;

namespace Kraft.Cli.Commands;

/// <summary>
/// The node's HTTP listener (http.listener): GET /metrics in Prometheus text format and GET /health (200 while the
/// node serves: its broker registered and unfenced, a quorum leader known; 503 otherwise). The gauges here read the
/// node's state at scrape time.
/// </summary>
public sealed class HttpEndpoint : IAsyncDisposable
{
    private readonly AdminHttpServer? _server;
    private readonly PrometheusExporter? _exporter;
    private readonly Meter? _meter;

    private HttpEndpoint(AdminHttpServer? server, PrometheusExporter? exporter, Meter? meter)
    {
        _server = server;
        _exporter = exporter;
        _meter = meter;
    }

    public static async Task<HttpEndpoint> StartAsync(NodeConfig config, KraftNode node, CancellationToken cancellationToken)
    {
        if (config.HttpListener is not { } listener)
        {
            return new HttpEndpoint(null, null, null);
        }
        // The node's own meters carry kraft.node.id; the filter keeps another in-process node's series out.
        var exporter = new PrometheusExporter(new PrometheusExporterOptions { MeterFilter = BrokerGauges.NodeMeterFilter(node.NodeId) });
        var meter = new Meter("Kraft.Broker", null, [new KeyValuePair<string, object?>(RaftMetrics.NodeIdTag, node.NodeId)]);
        var lags = new GroupLagCache();
        meter.CreateObservableGauge("kraft.raft.current_epoch", () => node.Raft?.Role.Epoch ?? -1, description: "Current Raft epoch of the metadata quorum as this node sees it");
        meter.CreateObservableGauge("kraft.raft.current_leader", () => node.Raft?.Role.LeaderId?.Value ?? -1, description: "Node id of the metadata quorum leader (-1 when unknown)");
        meter.CreateObservableGauge("kraft.raft.high_watermark", () => node.Raft?.HighWatermark ?? -1, description: "High watermark of the metadata log on this node");
        meter.CreateObservableGauge("kraft.controller.active_count", () => node.Raft?.Role.Role == RaftRole.Leader ? 1 : 0, description: "1 on the active controller (Kafka: ActiveControllerCount)");
        meter.CreateObservableGauge("kraft.broker.partition_count", () => node.Replicas?.Partitions.Count ?? 0, description: "Partition replicas hosted here (Kafka: PartitionCount)");
        meter.CreateObservableGauge("kraft.broker.leader_count", () => node.Replicas?.Partitions.Count(p => p.IsLeader) ?? 0, description: "Partitions led here (Kafka: LeaderCount)");
        meter.CreateObservableGauge("kraft.broker.under_replicated_partitions", () => UnderReplicated(node), description: "Partitions led here whose ISR is smaller than their replica set (Kafka: UnderReplicatedPartitions)");
        BrokerGauges.RegisterUnderMinIsr(meter, node.NodeId, () => node.View, node.MinInSyncReplicasFor);
        BrokerGauges.RegisterGroupLag(meter, () => lags.Current);
        meter.CreateObservableGauge("kraft.cluster.offline_partitions", () => node.View.Topics.Values.Sum(t => t.Partitions.Count(p => p.IsOffline)), description: "Partitions without a leader (Kafka: OfflinePartitionsCount)");
        meter.CreateObservableGauge("kraft.cluster.fenced_brokers", () => node.View.Brokers.Values.Count(b => b.Fenced), description: "Registered brokers currently fenced (Kafka: FencedBrokerCount)");
        var server = new AdminHttpServer(AdminHttpServer.ResolveEndPoint(listener.Host, listener.Port), exporter, () => Health(config, node))
        {
            BeforeScrape = ct => lags.RefreshAsync(node, ct),
        };
        await server.StartAsync(cancellationToken).ConfigureAwait(false);
        return new HttpEndpoint(server, exporter, meter);
    }

    private static int UnderReplicated(KraftNode node) => BrokerGauges.UnderReplicatedPartitions(node.View, node.NodeId);

    /// <summary>
    /// The consumer lags the last scrape gathered. Gathering takes each offsets shard's gate (async), which an
    /// observable gauge's callback cannot do, so the HTTP server refreshes this before rendering.
    /// </summary>
    private sealed class GroupLagCache
    {
        private volatile IReadOnlyList<GroupLag> _current = [];

        public IReadOnlyList<GroupLag> Current => _current;

        public async Task RefreshAsync(KraftNode node, CancellationToken cancellationToken)
        {
            if (node.Groups is not { } groups || node.Replicas is not { } replicas)
            {
                return;
            }
            var offsets = await groups.CommittedOffsetsAsync(cancellationToken).ConfigureAwait(false);
            _current = BrokerGauges.GroupLags(offsets, (topic, partition) => replicas.Get(topic, partition)?.HighWatermark);
        }
    }

    private static HealthReport Health(NodeConfig config, KraftNode node)
    {
        var role = node.Raft?.Role;
        bool fenced = node.Lifecycle?.IsFenced ?? true;
        bool serving = role?.LeaderId is not null && (!config.ProcessRoles.HasFlag(ProcessRoles.Broker) || !fenced);
        return new HealthReport(node.NodeId, config.ProcessRoles.ToString().ToLowerInvariant(), serving, serving ? "serving" : role?.LeaderId is null ? "no quorum leader" : "broker fenced")
        {
            QuorumRole = role?.Role.ToString().ToLowerInvariant(),
            QuorumLeaderId = role?.LeaderId?.Value,
            QuorumEpoch = role?.Epoch,
            MetadataHighWatermark = node.Raft?.HighWatermark,
            Fenced = fenced,
            LeaderCount = node.Replicas?.Partitions.Count(p => p.IsLeader),
            UnderReplicatedPartitions = UnderReplicated(node),
        };
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync().ConfigureAwait(false);
        _exporter?.Dispose();
        _meter?.Dispose();
    }
}
