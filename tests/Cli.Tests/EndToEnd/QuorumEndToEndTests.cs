using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Kraft.Protocol.Client;

namespace Kraft.Cli.Tests.EndToEnd;

/// <summary>
/// The metadata quorum with real processes: SIGKILL of the Raft leader gives a new leader within the fetch timeout
/// plus the election timeout (dev config: 1000 + 500 ms, plus slack for a loaded 2-core machine); the metrics
/// endpoint shows under-replicated partitions while a broker is down and 0 again after it restarts; the restarted
/// node catches up with the metadata log.
/// </summary>
[Trait("Category", "EndToEnd")]
[Collection(LocalCluster.Collection)]
public partial class QuorumEndToEndTests
{
    private static async Task<(int Leader, int Epoch, long HighWatermark, Dictionary<int, long> Voters)?> QuorumAsync(string bootstrap)
    {
        try
        {
            await using var client = new KafkaClient(new KafkaClientOptions
            {
                BootstrapServers = bootstrap.Split(','),
                ConnectTimeout = TimeSpan.FromMilliseconds(500),
                RequestTimeout = TimeSpan.FromSeconds(2),
            });
            var response = await client.DescribeQuorumAsync();
            var p = response.Topics.Single().Partitions.Single();
            if (response.ErrorCode != 0 || p.ErrorCode != 0 || p.LeaderId < 0) return null;
            return (p.LeaderId, p.LeaderEpoch, p.HighWatermark, p.CurrentVoters.ToDictionary(v => v.ReplicaId, v => v.LogEndOffset));
        }
        catch (Exception e) when (e is KafkaClientException or IOException or System.Net.Sockets.SocketException or TimeoutException or InvalidOperationException or OperationCanceledException)
        {
            return null;
        }
    }

    [GeneratedRegex(@"^kraft_broker_under_replicated_partitions(?:\{[^}]*\})? (\S+)$", RegexOptions.Multiline)]
    private static partial Regex UnderReplicated();

    private static async Task<int?> UnderReplicatedAsync(int httpPort)
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            string text = await http.GetStringAsync($"http://127.0.0.1:{httpPort}/metrics");
            var match = UnderReplicated().Match(text);
            return match.Success ? (int)double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    private static async Task<string> MetricsTextAsync(int httpPort)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        return await http.GetStringAsync($"http://127.0.0.1:{httpPort}/metrics");
    }

    /// <summary>Sum of every sample of <paramref name="metric"/> (all label sets) in Prometheus text.</summary>
    private static double Sum(string text, string metric) =>
        text.Split('\n').Where(l => l.StartsWith(metric + " ", StringComparison.Ordinal) || l.StartsWith(metric + "{", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    [Fact]
    public async Task Killing_the_raft_leader_elects_a_new_one_quickly_and_the_metrics_follow_the_outage()
    {
        await using var cluster = new LocalCluster();
        await cluster.StartAsync();
        var (code, _, error) = await cluster.Kraft("topics", "create", "watched", "--partitions", "3", "--replication-factor", "3", "-b", cluster.Bootstrap);
        Assert.True(code == 0, error);

        var before = await QuorumAsync(cluster.Bootstrap);
        Assert.NotNull(before);
        int oldLeader = before.Value.Leader;
        int httpPortOf(int node) => cluster.BasePort + 200 + node - 1;
        Assert.Equal(0, await UnderReplicatedAsync(httpPortOf(oldLeader)));

        string survivors = string.Join(',', Enumerable.Range(1, 3).Where(n => n != oldLeader).Select(n => $"127.0.0.1:{cluster.BasePort + n - 1}"));
        var clock = Stopwatch.StartNew();
        cluster.Kill(oldLeader);
        (int Leader, int Epoch, long HighWatermark, Dictionary<int, long> Voters)? after = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            after = await QuorumAsync(survivors);
            if (after is { } q && q.Leader != oldLeader && q.Epoch > before.Value.Epoch) break;
            await Task.Delay(50);
        }
        var electedAfter = clock.Elapsed;
        Assert.True(after is { } a && a.Leader != oldLeader && a.Epoch > before.Value.Epoch, "no new Raft leader\n" + cluster.Logs());
        Console.WriteLine($"new Raft leader {after!.Value.Leader} in epoch {after.Value.Epoch} after {electedAfter.TotalMilliseconds:F0} ms");
        Assert.True(electedAfter < TimeSpan.FromMilliseconds(1000 + 500 + 2500), $"new leader only after {electedAfter.TotalMilliseconds:F0} ms");

        // Every survivor leads or follows partitions whose ISR lost the dead broker after the session timeout.
        int underReplicated = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (underReplicated == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
            underReplicated = 0;
            foreach (int node in Enumerable.Range(1, 3).Where(n => n != oldLeader))
            {
                underReplicated += await UnderReplicatedAsync(httpPortOf(node)) ?? 0;
            }
        }
        Assert.True(underReplicated > 0, "the metrics never showed under-replicated partitions while a broker was down");

        // Partition leaders on the survivors counted the ISR shrinks; request metrics are per API, latency a histogram.
        double shrinks = 0;
        string sample = "";
        foreach (int node in Enumerable.Range(1, 3).Where(n => n != oldLeader))
        {
            sample = await MetricsTextAsync(httpPortOf(node));
            shrinks += Sum(sample, "kraft_broker_isr_shrinks_total");
        }
        Assert.True(shrinks > 0, "no ISR shrink counted after a broker was fenced");
        Assert.Contains("kraft_broker_request_latency_seconds_count{api=", sample);
        Assert.Contains("kraft_broker_request_latency_seconds_bucket{api=", sample);

        // Metadata written while it was down, then the node comes back and catches up.
        (code, _, error) = await cluster.Kraft("topics", "create", "while-down", "--partitions", "2", "--replication-factor", "2", "-b", survivors);
        Assert.True(code == 0, error);
        cluster.Restart(oldLeader);
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(45);
        bool caughtUp = false, healthy = false;
        while (!(caughtUp && healthy) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            var q = await QuorumAsync(cluster.Bootstrap);
            caughtUp = q is { } x && x.Voters.TryGetValue(oldLeader, out long end) && end >= x.HighWatermark;
            int total = 0;
            bool all = true;
            foreach (int node in Enumerable.Range(1, 3))
            {
                var value = await UnderReplicatedAsync(httpPortOf(node));
                if (value is null) all = false;
                total += value ?? 0;
            }
            healthy = all && total == 0;
        }
        Assert.True(caughtUp, "the restarted node did not catch up with the metadata log\n" + cluster.Logs());
        Assert.True(healthy, "under-replicated partitions did not return to 0 after the restart\n" + cluster.Logs());
    }
}
