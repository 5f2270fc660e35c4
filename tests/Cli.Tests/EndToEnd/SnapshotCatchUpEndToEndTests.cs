using System.Diagnostics;
using Kraft.Protocol.Client;

namespace Kraft.Cli.Tests.EndToEnd;

/// <summary>
/// Snapshot catch-up with real processes (KIP-630): with metadata.log.max.record.bytes.between.snapshots lowered to
/// 2 KiB, a stopped voter misses enough topic creations that the leader snapshots past its log end and drops that
/// log prefix; when it restarts, Fetch answers it with the snapshot id, it downloads the snapshot with FetchSnapshot,
/// installs it (server.log event 3005, written only on that path) and then knows every topic.
/// </summary>
public partial class QuorumEndToEndTests
{
    [Fact]
    public async Task A_voter_restarted_after_the_leader_snapshotted_past_its_log_catches_up_through_FetchSnapshot()
    {
        var clock = Stopwatch.StartNew();
        await using var cluster = new LocalCluster(3, 0, "metadata.log.max.record.bytes.between.snapshots=2048");
        await cluster.StartAsync();
        var quorum = await QuorumAsync(cluster.Bootstrap);
        Assert.True(quorum is not null, "no quorum description\n" + cluster.Logs());
        int leader = quorum.Value.Leader;
        int stopped = Enumerable.Range(1, 3).First(n => n != leader);
        string survivors = string.Join(',', Enumerable.Range(1, 3).Where(n => n != stopped).Select(n => $"127.0.0.1:{cluster.BasePort + n - 1}"));
        cluster.Kill(stopped);
        long stoppedEnd = quorum.Value.Voters[stopped];

        // About 60 topic-creation entries, far more than 2 KiB of records: the leader snapshots several times.
        var topics = Enumerable.Range(0, 60).Select(i => $"snap-{i:D2}").ToList();
        await using (var admin = new KafkaClient(new KafkaClientOptions { BootstrapServers = survivors.Split(','), RequestTimeout = TimeSpan.FromSeconds(30) }))
        {
            foreach (var chunk in topics.Chunk(10))
            {
                var response = await admin.CreateTopicsAsync(chunk.Select(t => (t, 1, (short)1)));
                Assert.All(response.Topics, t => Assert.True(t.ErrorCode == 0, $"creating {t.Name} failed with {t.ErrorCode}\n{cluster.Logs()}"));
            }
        }
        var after = await QuorumAsync(survivors);
        Assert.True(after is { } a && a.HighWatermark > stoppedEnd, $"the log did not grow past the stopped voter's end {stoppedEnd}");

        string logPath = Path.Combine(cluster.Directory, $"node-{stopped}", "server.log");
        long logLengthBefore = new FileInfo(logPath).Length;
        cluster.Restart(stopped);

        // The restarted node's own broker must serve every topic from its own metadata image.
        var missing = topics.ToHashSet();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(45);
        while (missing.Count > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            try
            {
                await using var client = new KafkaClient(new KafkaClientOptions
                {
                    BootstrapServers = [$"127.0.0.1:{cluster.BasePort + stopped - 1}"],
                    ConnectTimeout = TimeSpan.FromMilliseconds(500),
                    RequestTimeout = TimeSpan.FromSeconds(2),
                });
                var metadata = await client.MetadataAsync(null);
                foreach (var t in metadata.Topics) missing.Remove(t.Name ?? "");
            }
            catch (Exception e) when (e is KafkaClientException or IOException or System.Net.Sockets.SocketException or TimeoutException or InvalidOperationException or OperationCanceledException)
            {
                // Still starting.
            }
        }
        Assert.True(missing.Count == 0, $"node {stopped} does not know {missing.Count} topics, e.g. {missing.FirstOrDefault()}\n{cluster.Logs()}");

        string newLog;
        using (var stream = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            stream.Seek(logLengthBefore, SeekOrigin.Begin);
            newLog = await new StreamReader(stream).ReadToEndAsync();
        }
        Assert.True(newLog.Contains("installed a snapshot fetched from the leader (FetchSnapshot)", StringComparison.Ordinal),
            $"node {stopped} caught up without installing a snapshot:\n{string.Join('\n', newLog.Split('\n').TakeLast(30))}");
        Console.WriteLine($"snapshot catch-up test took {clock.Elapsed.TotalSeconds:F1} s");
    }
}
