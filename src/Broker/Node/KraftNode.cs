using System.Net;
using Kraft.Broker.Cluster;
using Kraft.Broker.Configuration;
using Kraft.Broker.Controller;
using Kraft.Broker.Groups.Coordinator;
using Kraft.Broker.Handlers;
using Kraft.Broker.Network;
using Kraft.Broker.RaftTransport;
using Kraft.Broker.Replication;
using Kraft.Protocol;
using Kraft.Protocol.Client;
using Kraft.Protocol.Messages;
using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;
using Kraft.Quorum.Raft;
using Kraft.Quorum.RaftDriver;
using Kraft.Storage.Log;
using Microsoft.Extensions.Logging;

namespace Kraft.Broker.Node;

/// <summary>
/// One Kraft process: a Raft voter on the metadata log (controller role), the active controller when it leads,
/// and a broker (broker role) that registers with the controller, follows the committed metadata, hosts partition
/// replicas and serves Kafka clients. Combined mode (both roles) is the default for laptop clusters. A broker-only
/// node follows the metadata log as a Raft observer (it fetches, never votes), learning the voters from
/// controller.quorum.voters or, failing that, from controller.quorum.bootstrap.servers (DescribeCluster, KIP-919).
/// <para>Threads: the Raft driver thread applies committed metadata (and runs the controller's replay); a metadata
/// applier task turns each new image into a <see cref="ClusterView"/> and reconciles the local replicas; network
/// servers and fetchers run on the thread pool.</para>
/// </summary>
public sealed partial class KraftNode : IAsyncDisposable
{
    public const string MetadataTopic = "__cluster_metadata";

    private readonly NodeConfig _config;
    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggers;
    private readonly string _clusterId;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _background = [];
    private readonly SemaphoreSlim _imageChanged = new(0);
    private ClusterView _view = ClusterView.Empty;
    private IReadOnlyList<QuorumVoter> _voters;
    private MetadataImage? _pendingImage;
    private RaftDriver? _driver;
    private RaftTcpTransport? _transport;
    private RaftTcpListener? _raftListener;
    private ControllerService? _controller;
    private KafkaServer? _controllerServer;
    private KafkaServer? _brokerServer;
    private ReplicaManager? _replicas;
    private LogCleaner? _cleaner;
    private ReplicaFetcherManager? _fetchers;
    private ControllerChannel? _channel;
    private BrokerLifecycle? _lifecycle;
    private GroupCoordinatorService? _groups;

    private KraftNode(NodeConfig config, string clusterId, ILoggerFactory loggers)
    {
        _config = config;
        _clusterId = clusterId;
        _loggers = loggers;
        _logger = loggers.CreateLogger("Kraft.Node");
        _voters = config.ControllerQuorumVoters;
    }

    public int NodeId => _config.NodeId;
    public ClusterView View => Volatile.Read(ref _view);
    public RaftDriver? Raft => _driver;
    public IPEndPoint? BrokerEndpoint => _brokerServer?.BoundEndpoint;
    public IPEndPoint? ControllerEndpoint => _controllerServer?.BoundEndpoint;
    public BrokerLifecycle? Lifecycle => _lifecycle;
    public ReplicaManager? Replicas => _replicas;
    public GroupCoordinatorService? Groups => _groups;

    /// <summary>The log cleaner (compaction of cleanup.policy=compact logs); null on a controller-only node.</summary>
    public LogCleaner? Cleaner => _cleaner;

    private bool IsController => _config.ProcessRoles.HasFlag(ProcessRoles.Controller);
    private bool IsBroker => _config.ProcessRoles.HasFlag(ProcessRoles.Broker);

    /// <summary>Opens the node's state on disk and starts every role it has.</summary>
    public static async Task<KraftNode> StartAsync(NodeConfig config, string clusterId, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var node = new KraftNode(config, clusterId, loggers);
        try
        {
            await node.StartCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await node.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return node;
    }

    private ListenerEndpoint Listener(string name) =>
        _config.Listeners.FirstOrDefault(l => string.Equals(l.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ConfigException($"listeners: no listener named {name}");

    private (string Host, int Port)? ControllerAddress(int nodeId) =>
        _voters.FirstOrDefault(v => v.Id == nodeId) is { } voter ? (voter.Host, voter.Port) : null;

    private static IPEndPoint Bind(ListenerEndpoint listener) =>
        new(listener.Host.Length == 0 || listener.Host == "0.0.0.0" ? IPAddress.Any : IPAddress.Parse(listener.Host == "localhost" ? "127.0.0.1" : listener.Host), listener.Port);

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        string dataDirectory = _config.LogDirs[0];
        Directory.CreateDirectory(dataDirectory);
        Directory.CreateDirectory(_config.MetadataLogDir);

        // Metadata: every node applies the committed log; the Raft leader also runs the active controller.
        _controller = new ControllerService(_config.NodeId, ControllerConfigFrom(_config), time, _loggers.CreateLogger("Kraft.Controller"));
        _controller.Publisher.Subscribe(new ImageSubscriber(this));

        if (_voters.Count == 0)
        {
            _voters = await DiscoverVotersAsync(cancellationToken).ConfigureAwait(false);
        }

        // Every node follows the metadata log with Raft: a voter when it is a controller, otherwise an observer
        // (KIP-595) that fetches from the leader and never votes. An observer reaches the voters through their
        // controller listeners and receives the leader's answers on its own connections (see RaftTcpTransport).
        _transport = new RaftTcpTransport(new NodeId(_config.NodeId), id => ControllerAddress(id.Value), _loggers.CreateLogger("Kraft.RaftTransport"))
        {
            // Outbound Raft connections leave from this node's own address when it has one (see SpecificAddress).
            LocalAddress = SpecificAddress(IsController ? Listener(_config.ControllerListenerNames[0]) : Listener(_config.InterBrokerListenerName)),
        };
        var raftOptions = new RaftOptions
        {
            NodeId = new NodeId(_config.NodeId),
            Voters = _voters.Select(v => new NodeId(v.Id)).ToList(),
            ElectionTimeoutMs = _config.ControllerQuorumElectionTimeoutMs,
            FetchTimeoutMs = _config.ControllerQuorumFetchTimeoutMs,
            ElectionBackoffMaxMs = _config.ControllerQuorumElectionBackoffMaxMs,
            RequestTimeoutMs = _config.ControllerQuorumRequestTimeoutMs,
        };
        var stateMachine = new MetadataStateMachine(_controller);
        _driver = RaftDriver.Open(
            new RaftDriverOptions(Path.Combine(_config.MetadataLogDir, MetadataTopic + "-0"), raftOptions)
            {
                SnapshotEveryBytes = _config.MetadataLogMaxRecordBytesBetweenSnapshots,
                // Read barriers append a metadata batch without records: every node replays it as a no-op.
                ReadBarrierPayload = MetadataRecordCodec.EncodeBatch([]),
            },
            _transport, stateMachine, time, _loggers.CreateLogger("Kraft.Raft"));
        stateMachine.MillisecondsSinceHeardFrom = _driver.MillisecondsSinceHeardFrom;
        _transport.OnReceive = _driver.Deliver;
        _controller.Attach(new DriverMetadataLog(_driver));
        var driver = _driver;

        if (IsController)
        {
            var controllerListener = Listener(_config.ControllerListenerNames[0]);
            var controllerHandler = new ControllerRequestHandler(_controller, ct => driver.DescribeQuorumAsync(ct))
            {
                ControllerEndpoints = _voters.Select(v => (v.Id, v.Host, v.Port)).ToList(),
                ClusterId = _clusterId,
                ActiveControllerId = () => driver.Role.LeaderId?.Value ?? -1,
            };
            _raftListener = new RaftTcpListener(_transport, _loggers.CreateLogger("Kraft.RaftListener"));
            var raftListener = _raftListener;
            _controllerServer = new KafkaServer(Bind(controllerListener), controllerHandler.Apis, controllerHandler, _loggers.CreateLogger("Kraft.ControllerListener"))
            {
                // Raft peers connect to the controller listener too; their connections start with "KRFT" (not yet consumed).
                RaftConnectionHandler = async (socket, ct) =>
                {
                    // The listener takes sockets whose magic has been read: consume the four peeked bytes first.
                    var magic = new byte[4];
                    int read = 0;
                    while (read < 4)
                    {
                        int n = await socket.ReceiveAsync(magic.AsMemory(read), System.Net.Sockets.SocketFlags.None, ct).ConfigureAwait(false);
                        if (n == 0)
                        {
                            socket.Dispose();
                            return;
                        }
                        read += n;
                    }
                    raftListener.Accept(socket);
                },
            };
            _controllerServer.Start();
            _driver.Start();
            _background.Add(Task.Run(() => ControllerTickLoopAsync(_stopping.Token)));
            _channel = new ControllerChannel(_config.NodeId, () => driver.Role.LeaderId?.Value, ControllerAddress, controllerHandler, ClientOptions("controller-channel"));
        }
        else
        {
            // Broker only: no controller listener; controller RPCs go to the leader's controller listener.
            _driver.Start();
            _channel = new ControllerChannel(_config.NodeId, () => driver.Role.LeaderId?.Value, ControllerAddress, null, ClientOptions("controller-channel"));
        }

        if (IsBroker)
        {
            var brokerListener = Listener(_config.InterBrokerListenerName);
            var logConfig = new LogConfig
            {
                SegmentBytes = _config.LogSegmentBytes,
                SegmentMs = _config.LogRollMs,
                RetentionMs = _config.LogRetentionMs,
                RetentionBytes = _config.LogRetentionBytes,
                IndexIntervalBytes = _config.LogIndexIntervalBytes,
                FlushIntervalMessages = _config.LogFlushIntervalMessages,
                FlushIntervalMs = _config.LogFlushIntervalMs ?? long.MaxValue,
                Preallocate = _config.LogPreallocate,
            };
            _replicas = new ReplicaManager(_config.NodeId, dataDirectory, topic => LogConfigFor(topic, logConfig),
                new ReplicationConfig { ReplicaLagTimeMaxMs = _config.ReplicaLagTimeMaxMs, MinInSyncReplicas = _config.MinInsyncReplicas, HighWatermarkCheckpointIntervalMs = _config.ReplicaHighWatermarkCheckpointIntervalMs },
                time, (partition, request) => _lifecycle?.RequestIsrChange(partition, request));
            _fetchers = new ReplicaFetcherManager(_config.NodeId, _replicas, () => View, ClientOptions($"replica-fetcher-{_config.NodeId}"), _loggers.CreateLogger("Kraft.ReplicaFetcher"))
            {
                FetchWaitMaxMs = _config.ReplicaFetchWaitMaxMs,
                FetchMaxBytes = _config.ReplicaFetchMaxBytes,
            };
            var admin = new AdminForwardingHandler(_channel!, topic => View.Topics.ContainsKey(topic));
            _groups = new GroupCoordinatorService(_config.NodeId, GroupCoordinatorConfigFrom(_config), () => View, _replicas, MinInSyncReplicasFor,
                (request, ct) => _channel!.SendAsync<CreateTopicsResponse>(request, ct), time, _loggers.CreateLogger("Kraft.GroupCoordinator"));
            var groups = new GroupRequestHandler(_groups, () => View) { Next = admin };
            var producerIds = new ProducerIdHandler(_config.NodeId, () => _lifecycle?.BrokerEpoch ?? -1,
                (request, ct) => _channel!.SendAsync<AllocateProducerIdsResponse>(request, ct)) { Next = groups };
            var data = new DataPlaneHandler(_config.NodeId, () => View, _replicas, MinInSyncReplicasFor, time) { Next = producerIds };
            if (_config.AutoCreateTopicsEnable)
            {
                var channel = _channel!;
                data.AutoCreateTopic = async topic =>
                {
                    try
                    {
                        // num.partitions and default.replication.factor apply (-1 asks the controller for its defaults).
                        await channel.SendAsync<CreateTopicsResponse>(new Kraft.Protocol.Messages.CreateTopicsRequest
                        {
                            timeoutMs = 30000,
                            Topics = [new Kraft.Protocol.Messages.CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = -1, ReplicationFactor = -1 }],
                        }, _stopping.Token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        LogAutoCreateFailed(topic, e.Message);
                    }
                };
            }
            data.Apis = DataPlaneHandler.Served(ApiVersionsTable.BrokerListener,
                [ApiKey.ApiVersions, ApiKey.Metadata, ApiKey.Produce, ApiKey.Fetch, ApiKey.ListOffsets, ApiKey.OffsetForLeaderEpoch, ApiKey.DescribeCluster, ApiKey.InitProducerId, .. AdminForwardingHandler.ForwardedApis, .. GroupRequestHandler.ServedApis]);
            _brokerServer = new KafkaServer(Bind(brokerListener), data.Apis, data, _loggers.CreateLogger("Kraft.BrokerListener"));
            _brokerServer.Start();

            var advertised = _config.AdvertisedListeners.FirstOrDefault(l => string.Equals(l.Name, brokerListener.Name, StringComparison.OrdinalIgnoreCase)) ?? brokerListener;
            string advertisedHost = advertised.Host.Length == 0 || advertised.Host == "0.0.0.0" ? "127.0.0.1" : advertised.Host;
            int advertisedPort = advertised.Port == 0 ? _brokerServer.BoundEndpoint.Port : advertised.Port;
            _lifecycle = new BrokerLifecycle(_config.NodeId, _clusterId,
                [new Kraft.Protocol.Messages.BrokerRegistrationRequest.Listener { Name = brokerListener.Name, Host = advertisedHost, Port = (ushort)advertisedPort, SecurityProtocol = 0 }],
                _config.BrokerRack, _channel!, () => _controller.Publisher.Image.LastAppliedOffset,
                TimeSpan.FromMilliseconds(_config.BrokerHeartbeatIntervalMs), _loggers.CreateLogger("Kraft.BrokerLifecycle"),
                topic => View.Topics.TryGetValue(topic, out var info) ? info.TopicId : Guid.Empty);
            _lifecycle.Start();
            _background.Add(Task.Run(() => MetadataApplierLoopAsync(_stopping.Token)));
            _background.Add(Task.Run(() => ReplicaTickLoopAsync(_stopping.Token)));
            _groups.Start();
            var replicas = _replicas;
            _cleaner = new LogCleaner(() => replicas.Partitions.Select(p => new CleanerCandidate(p.Log, p.HighWatermark)),
                new LogCleanerConfig { Enable = _config.LogCleanerEnable, BackoffMs = _config.LogCleanerBackoffMs, DedupeBufferSize = _config.LogCleanerDedupeBufferSize },
                (what, e) => LogCleanerFailed(what, e));
            _cleaner.Start();
        }
        LogStarted(_config.NodeId, _brokerServer?.BoundEndpoint, _controllerServer?.BoundEndpoint);
    }

    /// <summary>
    /// A broker-only node configured with controller.quorum.bootstrap.servers instead of controller.quorum.voters asks
    /// those controller listeners for the controllers (DescribeCluster v1, EndpointType 2, KIP-919) and uses the answer
    /// as the static voter set. Retries every 500 ms for up to two minutes, since the controllers may start later.
    /// </summary>
    private async Task<IReadOnlyList<QuorumVoter>> DiscoverVotersAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        string last = "no bootstrap server answered";
        while (true)
        {
            foreach (var server in _config.ControllerQuorumBootstrapServers)
            {
                try
                {
                    await using var connection = await KafkaConnection.ConnectAsync(server.Host, server.Port, ClientOptions("quorum-bootstrap"), cancellationToken).ConfigureAwait(false);
                    var response = await connection.SendAsync<DescribeClusterResponse>(new DescribeClusterRequest { EndpointType = 2 }, 1, cancellationToken).ConfigureAwait(false);
                    if (response.ErrorCode == 0 && response.Brokers.Count > 0)
                    {
                        var voters = response.Brokers.Select(b => new QuorumVoter(b.BrokerId, b.Host, b.Port)).ToList();
                        LogVotersDiscovered(string.Join(',', voters), server.ToString());
                        return voters;
                    }
                    last = $"{server}: error {response.ErrorCode} {response.ErrorMessage}";
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    last = $"{server}: {e.Message}";
                }
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new ConfigException($"controller.quorum.bootstrap.servers: could not learn the voters ({last})");
            }
            await Task.Delay(500, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The listener's address when it names one specific IP address (not a wildcard or a host name): outbound
    /// connections then leave from it, so that a node on its own address (127.0.0.N in the Jepsen harness) is told
    /// apart by source address, as it would be on its own machine. Null keeps the kernel's choice (the default).
    /// </summary>
    private static IPAddress? SpecificAddress(ListenerEndpoint listener) =>
        IPAddress.TryParse(listener.Host, out var address) && !address.Equals(IPAddress.Any) && !address.Equals(IPAddress.IPv6Any) ? address : null;

    private KafkaClientOptions ClientOptions(string clientId) => new()
    {
        ClientId = clientId,
        LocalAddress = (_config.Listeners.FirstOrDefault(l => string.Equals(l.Name, _config.InterBrokerListenerName, StringComparison.OrdinalIgnoreCase))
            ?? _config.Listeners.FirstOrDefault()) is { } own ? SpecificAddress(own) : null,
        RequestTimeout = TimeSpan.FromMilliseconds(Math.Max(2000, _config.ControllerQuorumRequestTimeoutMs * 2)),
        ConnectTimeout = TimeSpan.FromSeconds(2),
    };

    /// <summary>
    /// A topic's log settings: the broker's log.* defaults overridden by the topic's own configs (cleanup.policy,
    /// delete.retention.ms, min.cleanable.dirty.ratio, segment.bytes, segment.ms), read when the log is opened.
    /// __consumer_offsets is compacted unless its own config says otherwise, as in Kafka, where the coordinator
    /// creates it with cleanup.policy=compact and segment.bytes=offsets.topic.segment.bytes.
    /// </summary>
    private LogConfig LogConfigFor(string topic, LogConfig defaults)
    {
        var image = _controller!.Publisher.Image;
        string? Own(string name) => image.ConfigValue(new ConfigResource(ConfigResourceType.Topic, topic), name);
        long? OwnLong(string name) => long.TryParse(Own(name), System.Globalization.CultureInfo.InvariantCulture, out long v) ? v : null;
        bool offsetsTopic = topic == GroupCoordinatorService.OffsetsTopic;
        var (compact, delete) = LogConfig.ParseCleanupPolicy(Own("cleanup.policy") ?? (offsetsTopic ? "compact" : _config.LogCleanupPolicy));
        return defaults with
        {
            Compact = compact,
            DeleteByRetention = delete,
            DeleteRetentionMs = OwnLong("delete.retention.ms") ?? _config.LogCleanerDeleteRetentionMs,
            MinCleanableDirtyRatio = double.TryParse(Own("min.cleanable.dirty.ratio"), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double ratio)
                ? ratio : _config.LogCleanerMinCleanableRatio,
            SegmentBytes = OwnLong("segment.bytes") ?? (offsetsTopic ? _config.OffsetsTopicSegmentBytes : defaults.SegmentBytes),
            SegmentMs = OwnLong("segment.ms") ?? defaults.SegmentMs,
        };
    }

    /// <summary>min.insync.replicas of <paramref name="topic"/>: its topic config, else the dynamic broker default, else this node's setting.</summary>
    public int MinInSyncReplicasFor(string topic)
    {
        var image = _controller!.Publisher.Image;
        string? value = image.ConfigValue(new ConfigResource(ConfigResourceType.Topic, topic), "min.insync.replicas")
            ?? image.ConfigValue(new ConfigResource(ConfigResourceType.Broker, ""), "min.insync.replicas");
        return int.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out int n) ? n : _config.MinInsyncReplicas;
    }

    private static ControllerConfig ControllerConfigFrom(NodeConfig config) => new()
    {
        BrokerSessionTimeoutMs = config.BrokerSessionTimeoutMs,
        DefaultNumPartitions = config.NumPartitions,
        DefaultReplicationFactor = (short)config.DefaultReplicationFactor,
        UncleanLeaderElectionEnable = config.UncleanLeaderElectionEnable,
        AutoLeaderRebalanceEnable = config.AutoLeaderRebalanceEnable,
        LeaderImbalancePerBrokerPercentage = config.LeaderImbalancePerBrokerPercentage,
        LeaderImbalanceCheckIntervalSeconds = config.LeaderImbalanceCheckIntervalSeconds,
    };

    private static GroupCoordinatorConfig GroupCoordinatorConfigFrom(NodeConfig config) => new()
    {
        OffsetsTopicNumPartitions = config.OffsetsTopicNumPartitions,
        OffsetsTopicReplicationFactor = config.OffsetsTopicReplicationFactor,
        Groups = new Groups.GroupConfig
        {
            GroupInitialRebalanceDelayMs = config.GroupInitialRebalanceDelayMs,
            GroupMinSessionTimeoutMs = config.GroupMinSessionTimeoutMs,
            GroupMaxSessionTimeoutMs = config.GroupMaxSessionTimeoutMs,
            OffsetsRetentionMinutes = config.OffsetsRetentionMinutes,
            OffsetsRetentionCheckIntervalMs = config.OffsetsRetentionCheckIntervalMs,
        },
    };

    /// <summary>Receives committed images on the Raft thread and hands the latest to the applier task.</summary>
    private sealed class ImageSubscriber(KraftNode node) : IMetadataSubscriber
    {
        public void OnMetadataUpdate(MetadataDelta delta, MetadataImage image)
        {
            Volatile.Write(ref node._pendingImage, image);
            node._imageChanged.Release();
        }
    }

    private async Task MetadataApplierLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await _imageChanged.WaitAsync(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                var image = Interlocked.Exchange(ref _pendingImage, null);
                int leader = _driver?.Role.LeaderId?.Value ?? -1;
                if (image is null && View.ControllerId == leader)
                {
                    continue;
                }
                image ??= _controller!.Publisher.Image;
                var view = ClusterViews.From(image, _clusterId, leader, _config.InterBrokerListenerName);
                Volatile.Write(ref _view, view);
                _replicas?.Apply(view);
                _fetchers?.Sync();
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogApplyFailed(e);
            }
        }
    }

    /// <summary>Controller housekeeping every 250 ms while active: fencing, leaderless partitions, rebalance.</summary>
    private Task ControllerTickLoopAsync(CancellationToken cancellationToken) =>
        RunPeriodicallyAsync(TimeSpan.FromMilliseconds(250), async ct =>
        {
            if (_controller!.IsActive)
            {
                await _controller.TickAsync(ct).ConfigureAwait(false);
            }
        }, cancellationToken);

    /// <summary>Replica housekeeping every 500 ms: ISR shrink checks, high-watermark checkpoints, time-based flush.</summary>
    private Task ReplicaTickLoopAsync(CancellationToken cancellationToken) =>
        RunPeriodicallyAsync(TimeSpan.FromMilliseconds(500), _ =>
        {
            _replicas!.Tick();
            return Task.CompletedTask;
        }, cancellationToken);

    /// <summary>Runs <paramref name="work"/> every <paramref name="interval"/> until stopped; a failure is logged, not fatal.</summary>
    private async Task RunPeriodicallyAsync(TimeSpan interval, Func<CancellationToken, Task> work, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, cancellationToken).ConfigureAwait(false);
                await work(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogTickFailed(e);
            }
        }
    }

    /// <summary>
    /// Clean stop: controlled shutdown (leadership moves away first), Raft resignation (the others elect at once),
    /// then every server, loop and file is closed.
    /// </summary>
    public async Task StopAsync(TimeSpan controlledShutdownTimeout)
    {
        if (_lifecycle is not null && controlledShutdownTimeout > TimeSpan.Zero)
        {
            bool clean = await _lifecycle.ControlledShutdownAsync(controlledShutdownTimeout).ConfigureAwait(false);
            LogControlledShutdown(_config.NodeId, clean);
        }
        if (_driver is not null)
        {
            try
            {
                await _driver.ResignAsync().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
        }
        await DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_lifecycle is not null) await _lifecycle.DisposeAsync().ConfigureAwait(false);
        if (_brokerServer is not null) await _brokerServer.DisposeAsync().ConfigureAwait(false);
        if (_groups is not null) await _groups.DisposeAsync().ConfigureAwait(false);
        if (_fetchers is not null) await _fetchers.DisposeAsync().ConfigureAwait(false);
        try { await Task.WhenAll(_background).ConfigureAwait(false); } catch (OperationCanceledException) { }
        if (_controllerServer is not null) await _controllerServer.DisposeAsync().ConfigureAwait(false);
        if (_channel is not null) await _channel.DisposeAsync().ConfigureAwait(false);
        if (_driver is not null) await _driver.DisposeAsync().ConfigureAwait(false);
        if (_raftListener is not null) await _raftListener.DisposeAsync().ConfigureAwait(false);
        if (_transport is not null) await _transport.DisposeAsync().ConfigureAwait(false);
        _cleaner?.Dispose(); // before the logs close: a pass in progress finishes or abandons its swap first
        _replicas?.Dispose();
        _controller?.Dispose();
        _stopping.Dispose();
    }

    [LoggerMessage(EventId = 500, Level = LogLevel.Information, Message = "Node {NodeId} started: broker listener {Broker}, controller listener {Controller}")]
    private partial void LogStarted(int nodeId, IPEndPoint? broker, IPEndPoint? controller);

    [LoggerMessage(EventId = 520, Level = LogLevel.Warning, Message = "Log cleaner: {What}")]
    private partial void LogCleanerFailed(string what, Exception exception);

    [LoggerMessage(EventId = 501, Level = LogLevel.Error, Message = "Applying metadata failed")]
    private partial void LogApplyFailed(Exception exception);

    [LoggerMessage(EventId = 502, Level = LogLevel.Warning, Message = "Periodic task failed")]
    private partial void LogTickFailed(Exception exception);

    [LoggerMessage(EventId = 504, Level = LogLevel.Warning, Message = "Auto-creating topic {Topic} failed: {Reason}")]
    private partial void LogAutoCreateFailed(string topic, string reason);

    [LoggerMessage(EventId = 505, Level = LogLevel.Information, Message = "Learned the quorum voters {Voters} from {Server}")]
    private partial void LogVotersDiscovered(string voters, string server);

    [LoggerMessage(EventId = 503, Level = LogLevel.Information, Message = "Node {NodeId} controlled shutdown completed: {Clean}")]
    private partial void LogControlledShutdown(int nodeId, bool clean);
}

/// <summary>Feeds the Raft driver's callbacks (driver thread) to the controller service.</summary>
internal sealed class MetadataStateMachine(ControllerService service) : IRaftStateMachine
{
    // The last leader this node followed, and how to ask the driver when it last heard from a node (set once the
    // driver exists; called on the driver thread, like every callback here).
    private NodeId? _lastLeaderFollowed;

    public Func<NodeId, long?>? MillisecondsSinceHeardFrom { get; set; }

    public void OnRoleChange(RoleInfo role)
    {
        bool leading = role.Role == RaftRole.Leader;
        NodeId? previous = leading ? _lastLeaderFollowed : null;
        long? age = previous is { } p ? MillisecondsSinceHeardFrom?.Invoke(p) : null;
        if (!leading && role.LeaderId is { } leader) _lastLeaderFollowed = leader;
        service.OnRoleChange(leading, role.Epoch, age is null ? null : previous!.Value.Value, age);
    }

    public void OnCommitted(IReadOnlyList<LogEntry> entries, long highWatermark)
    {
        foreach (var entry in entries)
        {
            service.ApplyCommitted(entry.Payload, entry.Kind == LogEntryKind.LeaderChange, entry.Offset, entry.Epoch);
        }
    }

    // A snapshot covers offsets below Id.Offset: the image's last applied offset is the one before it.
    public void OnSnapshotLoad(RaftSnapshot snapshot) => service.LoadSnapshot(snapshot.Bytes, snapshot.Id.Offset - 1, snapshot.Id.Epoch);

    public byte[]? TakeSnapshot(long endOffset) => service.TakeSnapshot();
}

/// <summary>The controller's view of the Raft driver: one proposal = one entry.</summary>
internal sealed class DriverMetadataLog(RaftDriver driver) : IMetadataLog
{
    public async Task<MetadataProposal> ProposeAsync(byte[] batch, int epoch, CancellationToken cancellationToken)
    {
        var outcome = await driver.ProposeAsync(batch, epoch, cancellationToken).ConfigureAwait(false);
        return new MetadataProposal(outcome.Committed, outcome.Offset, outcome.Epoch, outcome.Error);
    }

    public Task<long> ReadBarrierAsync(CancellationToken cancellationToken) => driver.ReadBarrierAsync(cancellationToken);
}
