using System.Net;
using Kraft.Broker.Cluster;
using Kraft.Broker.Handlers;
using Kraft.Broker.Network;
using Kraft.Broker.Replication;
using Kraft.Storage.Log;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kraft.Broker.Tests.Compatibility;

/// <summary>
/// One broker serving the data plane on a free loopback port with a fixed cluster view (no quorum): enough for
/// real clients to read metadata, produce and fetch. Topics are given up front; each partition is led here.
/// </summary>
public sealed class SingleBrokerFixture : IAsyncDisposable
{
    public const int BrokerId = 1;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "kraft-single-" + Guid.NewGuid().ToString("N"));
    private ClusterView _view = ClusterView.Empty;

    public ReplicaManager Replicas { get; }
    public KafkaServer Server { get; }
    public string Bootstrap => $"127.0.0.1:{Server.BoundEndpoint.Port}";

    public SingleBrokerFixture(params (string Topic, int Partitions)[] topics)
    {
        Replicas = new ReplicaManager(BrokerId, _directory, _ => new LogConfig(), new ReplicationConfig(), TimeProvider.System, (_, _) => { });
        var handler = new DataPlaneHandler(BrokerId, () => Volatile.Read(ref _view), Replicas, _ => 1, TimeProvider.System);
        Server = new KafkaServer(new IPEndPoint(IPAddress.Loopback, 0), handler.Apis, handler, NullLogger.Instance);
        Server.Start();
        var broker = new BrokerInfo(BrokerId, "127.0.0.1", Server.BoundEndpoint.Port, null, Fenced: false);
        var topicInfos = topics.ToDictionary(t => t.Topic, t => new TopicInfo(t.Topic, Guid.NewGuid(),
            Enumerable.Range(0, t.Partitions).Select(p => new PartitionInfo(t.Topic, p, BrokerId, 0, 0, [BrokerId], [BrokerId])).ToList()));
        _view = new ClusterView("kraft-test-cluster", BrokerId, new Dictionary<int, BrokerInfo> { [BrokerId] = broker }, topicInfos);
        Replicas.Apply(_view);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Replicas.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
