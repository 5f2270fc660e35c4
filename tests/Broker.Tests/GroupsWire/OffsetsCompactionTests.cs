using Kraft.Broker.Groups;
using Kraft.Broker.Groups.Coordinator;
using Kraft.Broker.Replication;
using Kraft.Storage.Log;
using Microsoft.Extensions.Logging.Abstractions;
using Wire = Kraft.Protocol.Messages;

namespace Kraft.Broker.Tests.GroupsWire;

/// <summary>
/// __consumer_offsets under log compaction: a group commits many times, the log cleaner (its driver's pass, as the
/// broker's cleaner thread runs it) compacts the offsets partition, the broker restarts (new replica manager and
/// coordinator over the same directory), and the group's latest offsets and state come back from far fewer records.
/// </summary>
public class OffsetsCompactionTests
{
    private const string Offsets = GroupCoordinatorService.OffsetsTopic;

    /// <summary>One view for the whole test (a view names topic ids, which must not change between calls).</summary>
    private static readonly Cluster.ClusterView View = CoordinatorFixture.View(1, epoch: 0);

    private static LogConfig LogConfigFor(string topic) => topic == Offsets
        ? new LogConfig { Compact = true, DeleteByRetention = false, SegmentBytes = 4096, MinCleanableDirtyRatio = 0.5 }
        : new LogConfig();

    private sealed class Broker : IAsyncDisposable
    {
        public Broker(string directory, ManualClock clock)
        {
            Replicas = new ReplicaManager(1, directory, LogConfigFor, new ReplicationConfig(), clock, (_, _) => { });
            Replicas.Apply(View);
            Service = new GroupCoordinatorService(1, CoordinatorFixture.Config, () => View, Replicas, _ => 1,
                (_, _) => Task.FromResult(new Wire.CreateTopicsResponse()), clock, NullLogger.Instance);
            Cleaner = new LogCleaner(() => Replicas.Partitions.Select(p => new CleanerCandidate(p.Log, p.HighWatermark)), new LogCleanerConfig { Enable = false });
        }

        public ReplicaManager Replicas { get; }
        public GroupCoordinatorService Service { get; }
        public LogCleaner Cleaner { get; }

        public async Task LoadAsync()
        {
            await Service.ReconcileAsync();
            await Service.WhenLoadedAsync(0);
            await Service.WhenLoadedAsync(1);
        }

        public async ValueTask DisposeAsync()
        {
            Cleaner.Dispose();
            await Service.DisposeAsync();
            Replicas.Dispose();
        }
    }

    [Fact]
    public async Task Committed_offsets_survive_compaction_and_a_restart_and_loading_reads_fewer_records()
    {
        string directory = Path.Combine(Path.GetTempPath(), "kraft-compact-" + Guid.NewGuid().ToString("N"));
        var clock = new ManualClock(1_700_000_000_000);
        string group = CoordinatorFixture.GroupOn(1);
        try
        {
            int readBefore;
            await using (var broker = new Broker(directory, clock))
            {
                await broker.LoadAsync().WaitAsync(TimeSpan.FromSeconds(20));
                var joining = broker.Service.JoinGroupAsync(new JoinGroupRequest(group, 10_000, 10_000, "", null, "consumer", [new JoinGroupProtocol("range", [1])], ApiVersion: 3), CancellationToken.None);
                await broker.Service.TickAsync();
                var joined = await joining.WaitAsync(TimeSpan.FromSeconds(21));
                var synced = await broker.Service.SyncGroupAsync(new SyncGroupRequest(group, joined.GenerationId, joined.MemberId, null, [new SyncGroupAssignment(joined.MemberId, [1])]), CancellationToken.None);
                Assert.Equal(GroupErrorCode.NONE, synced.ErrorCode);
                for (int i = 1; i <= 300; i++)
                {
                    var commit = await broker.Service.CommitOffsetsAsync(new OffsetCommitRequest(group, joined.GenerationId, joined.MemberId, null,
                        [new OffsetCommitPartition("orders", 0, i, 0, "m"), new OffsetCommitPartition("orders", 1, 2L * i)]), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(22));
                    Assert.All(commit.Partitions, p => Assert.Equal(GroupErrorCode.NONE, p.ErrorCode));
                }
                // A new coordinator over the uncompacted log replays every commit.
                var log = broker.Replicas.Get(Offsets, 1)!.Log;
                Assert.True(log.SegmentCount > 3, $"the commits span several segments ({log.SegmentCount})");
                long endBefore = log.LogEndOffset;
                readBefore = await ReloadCountAsync(broker).WaitAsync(TimeSpan.FromSeconds(23));
                Assert.True(readBefore >= 600, $"before compaction the load replays every commit ({readBefore})");

                // The cleaner's driver picks the dirty offsets partition and compacts it in passes below the high watermark.
                log.RollNow();
                log.Flush();
                int passes = 0;
                while (broker.Cleaner.RunOnePass() && passes < 20)
                {
                    passes++;
                }
                Assert.True(passes >= 1);
                Assert.True(broker.Cleaner.RecordsRemoved > 500, $"removed {broker.Cleaner.RecordsRemoved}");
                Assert.Equal(endBefore, log.LogEndOffset); // compaction never moves the end of the log
                broker.Replicas.Tick(); // the broker's tick loop checkpoints the high watermark before it stops
            }

            // Broker restart: new replica manager (logs reopened) and a new coordinator loading the compacted log.
            await using (var restarted = new Broker(directory, clock))
            {
                var reopened = restarted.Replicas.Get(Offsets, 1)!;
                Assert.True(reopened.HighWatermark == reopened.Log.LogEndOffset, $"hw {reopened.HighWatermark} leo {reopened.Log.LogEndOffset} leader {reopened.IsLeader}");
                await restarted.Service.ReconcileAsync();
                await restarted.Service.WhenLoadedAsync(1).WaitAsync(TimeSpan.FromSeconds(24));
                await restarted.Service.WhenLoadedAsync(0).WaitAsync(TimeSpan.FromSeconds(25));
                int readAfter = restarted.Service.RecordsReadOnLastLoad(1)!.Value;
                Assert.True(readAfter < 10 && readAfter < readBefore, $"after compaction the load reads {readAfter} records (before: {readBefore})");
                var fetched = await restarted.Service.FetchOffsetsAsync(new OffsetFetchRequest(group, null), CancellationToken.None);
                Assert.Equal(new[] { ("orders", 0, 300L, "m"), ("orders", 1, 600L, "") },
                    fetched.Partitions.Select(p => (p.Topic, p.Partition, p.CommittedOffset, p.Metadata)));
                var described = await restarted.Service.DescribeGroupAsync(group, CancellationToken.None);
                Assert.Equal("Stable", described.GroupState);
            }
        }
        finally
        {
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Loads the offsets partition again with a fresh coordinator over the same logs; returns the records it replayed.</summary>
    private static async Task<int> ReloadCountAsync(Broker broker)
    {
        await using var service = new GroupCoordinatorService(1, CoordinatorFixture.Config, () => View, broker.Replicas, _ => 1,
            (_, _) => Task.FromResult(new Wire.CreateTopicsResponse()), new ManualClock(1_700_000_000_000), NullLogger.Instance);
        await service.ReconcileAsync();
        await service.WhenLoadedAsync(1);
        return service.RecordsReadOnLastLoad(1)!.Value;
    }
}
