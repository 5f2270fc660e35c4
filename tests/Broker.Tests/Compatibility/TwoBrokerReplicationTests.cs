using System.Net;
using Kraft.Broker.Cluster;
using Kraft.Broker.Handlers;
using Kraft.Broker.Network;
using Kraft.Broker.Replication;
using Kraft.Protocol.Client;
using Kraft.Storage.Log;
using Kraft.Storage.Records;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kraft.Broker.Tests.Compatibility;

/// <summary>
/// Two brokers in one process, each with its own listener, logs and replica fetcher, sharing a cluster view that
/// the test changes by hand (standing in for the controller): follower fetch over real sockets, acks=all through
/// replication, and a leadership switch after which the new leader keeps every acknowledged record.
/// </summary>
public sealed class TwoBrokerReplicationTests : IAsyncLifetime
{
    private sealed class Node : IAsyncDisposable
    {
        public required int Id;
        public required ReplicaManager Replicas;
        public required KafkaServer Server;
        public required ReplicaFetcherManager Fetchers;
        public required string Directory;

        public async ValueTask DisposeAsync()
        {
            await Fetchers.DisposeAsync();
            await Server.DisposeAsync();
            Replicas.Dispose();
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    private readonly List<Node> _nodes = [];
    private ClusterView _view = ClusterView.Empty;

    public Task InitializeAsync()
    {
        foreach (int id in new[] { 1, 2 })
        {
            string dir = Path.Combine(Path.GetTempPath(), $"kraft-two-{id}-" + Guid.NewGuid().ToString("N"));
            var replicas = new ReplicaManager(id, dir, _ => new LogConfig(), new ReplicationConfig(), TimeProvider.System, (_, _) => { });
            var handler = new DataPlaneHandler(id, () => Volatile.Read(ref _view), replicas, _ => 2, TimeProvider.System);
            var server = new KafkaServer(new IPEndPoint(IPAddress.Loopback, 0), handler.Apis, handler, NullLogger.Instance);
            server.Start();
            var fetchers = new ReplicaFetcherManager(id, replicas, () => Volatile.Read(ref _view), new KafkaClientOptions { ClientId = $"replica-{id}" }, NullLogger.Instance) { FetchWaitMaxMs = 100 };
            _nodes.Add(new Node { Id = id, Replicas = replicas, Server = server, Fetchers = fetchers, Directory = dir });
        }
        Publish(leader: 1, epoch: 0, isr: [1, 2]);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes) await node.DisposeAsync();
    }

    private void Publish(int leader, int epoch, int[] isr)
    {
        var brokers = _nodes.ToDictionary(n => n.Id, n => new BrokerInfo(n.Id, "127.0.0.1", n.Server.BoundEndpoint.Port, null, false));
        var topic = new TopicInfo("events", Guid.Parse("00000000-0000-0000-0000-0000000000e1"), [new PartitionInfo("events", 0, leader, epoch, epoch, [1, 2], isr)]);
        Volatile.Write(ref _view, new ClusterView("c", 1, brokers, new Dictionary<string, TopicInfo> { ["events"] = topic }));
        foreach (var node in _nodes)
        {
            node.Replicas.Apply(_view);
            node.Fetchers.Sync();
        }
    }

    private static byte[] Batch(int i) => new RecordBatchBuilder().Add(null, System.Text.Encoding.UTF8.GetBytes($"v{i}"), 1).Build();

    [Fact]
    public async Task Acks_all_completes_through_a_follower_fetching_over_the_network_and_survives_a_leader_switch()
    {
        var leader = _nodes[0].Replicas.Get("events", 0)!;
        for (int i = 0; i < 20; i++)
        {
            var outcome = await leader.AppendAsLeaderAsync(Batch(i), acks: -1, minInSyncReplicas: 2, TimeSpan.FromSeconds(20), CancellationToken.None);
            Assert.Equal(ReplicationError.None, outcome.Error);
            Assert.Equal(i, outcome.BaseOffset);
        }
        var follower = _nodes[1].Replicas.Get("events", 0)!;
        Assert.True(follower.Log.LogEndOffset >= 20, "an acknowledged acks=all write must already be on the follower");

        // Broker 2 takes over in epoch 1; broker 1 becomes its follower.
        Publish(leader: 2, epoch: 1, isr: [2, 1]);
        var newLeader = _nodes[1].Replicas.Get("events", 0)!;
        for (int i = 20; i < 25; i++)
        {
            var outcome = await newLeader.AppendAsLeaderAsync(Batch(i), -1, 2, TimeSpan.FromSeconds(20), CancellationToken.None);
            Assert.Equal(ReplicationError.None, outcome.Error);
            Assert.Equal(i, outcome.BaseOffset);
        }
        var read = newLeader.ReadForConsumer(0, 1 << 20, -1);
        Assert.Equal(ReplicationError.None, read.Error);
        int count = 0;
        var walker = new BatchWalker(read.Records.Span);
        while (walker.TryNext(out var header, out _, out _)) count += header.RecordsCount;
        Assert.Equal(25, count);
        // The old leader, now a follower, catches up with the new leader's log.
        var oldLeader = _nodes[0].Replicas.Get("events", 0)!;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (oldLeader.Log.LogEndOffset < 25)
        {
            await _nodes[0].Replicas.Changed.NextAsync().WaitAsync(TimeSpan.FromMilliseconds(200), deadline.Token).ContinueWith(_ => { }, TaskScheduler.Default);
            Assert.False(deadline.IsCancellationRequested, $"old leader stuck at {oldLeader.Log.LogEndOffset}");
        }
        Assert.Equal(25, oldLeader.Log.LogEndOffset);
    }
}
