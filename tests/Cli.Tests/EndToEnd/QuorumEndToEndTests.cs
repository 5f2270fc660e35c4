using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Kraft.Protocol.Client;

namespace Kraft.Cli.Tests.EndToEnd;

/// <summary>
/// The metadata quorum with real processes: SIGKILL of the Raft leader gives a new leader within the fetch timeout
/// plus the election timeout (dev config: 1000 + 500 ms, plus slack for a loaded 2-core machine); the metrics
/// endpoint follows the outage (under-replicated and under-min-ISR partitions while a broker is down and 0 again
/// after it restarts, ISR shrinks, a won Raft election on a survivor, an unclean election counted by the new active
/// controller) and shows records received and consumer lag; the restarted node catches up with the metadata log.
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

    /// <summary>Sum of the samples of <paramref name="metric"/> whose labels include every <paramref name="labels"/> pair (name="value", unescaped values only).</summary>
    private static double Sum(string text, string metric, params string[] labels) =>
        text.Split('\n').Where(l => l.StartsWith(metric + "{", StringComparison.Ordinal) && labels.All(x => l.Contains(x, StringComparison.Ordinal)))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    /// <summary>
    /// Sum of a metric over the given nodes (a node that does not answer counts 0), polled until
    /// <paramref name="done"/> holds or <paramref name="timeout"/> passes; returns the last sum.
    /// </summary>
    private static async Task<double> SumOverNodesAsync(IEnumerable<int> httpPorts, Func<string, double> metric, Func<double, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        double total;
        while (true)
        {
            total = 0;
            foreach (int port in httpPorts)
            {
                try
                {
                    total += metric(await MetricsTextAsync(port));
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                }
            }
            if (done(total) || DateTime.UtcNow >= deadline) return total;
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task Killing_the_raft_leader_elects_a_new_one_quickly_and_the_metrics_follow_the_outage()
    {
        await using var cluster = new LocalCluster();
        await cluster.StartAsync();
        var (code, _, error) = await cluster.Kraft("topics", "create", "watched", "--partitions", "3", "--replication-factor", "3", "-b", cluster.Bootstrap);
        Assert.True(code == 0, error);
        int httpPortOf(int node) => cluster.BasePort + 200 + node - 1;
        var allPorts = Enumerable.Range(1, 3).Select(httpPortOf).ToList();

        // Topics for the metrics added by issue #10: "strict" needs all 3 replicas in sync for acks=all; "lonely" has one
        // replica per partition (min.insync.replicas=1 so that it is not under its minimum by construction); "lagged"
        // gets 10 records and a group that committed offset 4.
        await using (var admin = new KafkaClient(new KafkaClientOptions { BootstrapServers = cluster.Bootstrap.Split(','), RequestTimeout = TimeSpan.FromSeconds(30) }))
        {
            foreach (var (name, partitions, rf, minIsr) in new[] { ("strict", 3, (short)3, "3"), ("lonely", 6, (short)1, "1"), ("lagged", 1, (short)3, "2") })
            {
                var created = await admin.CreateTopicsAsync([(name, partitions, rf)], new Dictionary<string, string?> { ["min.insync.replicas"] = minIsr });
                Assert.True(created.Topics.All(t => t.ErrorCode == 0), $"create {name}: {string.Join(",", created.Topics.Select(t => t.ErrorMessage))}");
            }
        }
        (code, _, error) = await LocalCluster.Run("dotnet", [LocalCluster.KraftDll, "produce", "lagged", "-b", cluster.Bootstrap],
            string.Join('\n', Enumerable.Range(0, 10).Select(i => $"r{i}")) + "\n", TimeSpan.FromSeconds(60));
        Assert.True(code == 0, error);
        await using (var groupClient = new KafkaClient(new KafkaClientOptions { BootstrapServers = cluster.Bootstrap.Split(','), RequestTimeout = TimeSpan.FromSeconds(30) }))
        {
            // The first commit creates __consumer_offsets: COORDINATOR_LOAD_IN_PROGRESS / NOT_COORDINATOR until it is loaded.
            var commitDeadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            short commitError;
            do
            {
                var committed = await groupClient.OffsetCommitAsync("lag-group", [("lagged", 0, 4L)]);
                commitError = committed.Topics.SelectMany(t => t.Partitions).Single().ErrorCode;
                if (commitError != 0) await Task.Delay(200);
            }
            while (commitError != 0 && DateTime.UtcNow < commitDeadline);
            Assert.Equal(0, commitError);
        }

        // Records received are counted by the partition leader; the lag by the group's coordinator (HW 10 - 4).
        double records = await SumOverNodesAsync(allPorts, t => Sum(t, "kraft_broker_topic_records_received_total", "topic=\"lagged\""), v => v >= 10, TimeSpan.FromSeconds(10));
        Assert.Equal(10, records);
        double lag = await SumOverNodesAsync(allPorts, t => Sum(t, "kraft_broker_group_lag", "group=\"lag-group\"", "topic=\"lagged\""), v => v == 6, TimeSpan.FromSeconds(10));
        Assert.True(lag == 6, $"consumer lag of lag-group on lagged-0 should be 10 - 4 = 6, the metrics say {lag}");
        Assert.Equal(0, await SumOverNodesAsync(allPorts, t => Sum(t, "kraft_broker_under_min_isr_partitions"), _ => true, TimeSpan.Zero));

        var before = await QuorumAsync(cluster.Bootstrap);
        Assert.NotNull(before);
        int oldLeader = before.Value.Leader;
        Assert.Equal(0, await UnderReplicatedAsync(httpPortOf(oldLeader)));
        var survivorPorts = Enumerable.Range(1, 3).Where(n => n != oldLeader).Select(httpPortOf).ToList();
        double wonBefore = await SumOverNodesAsync(survivorPorts, t => Sum(t, "kraft_raft_elections_total", "result=\"won\""), _ => true, TimeSpan.Zero);
        double uncleanBefore = await SumOverNodesAsync(survivorPorts, t => Sum(t, "kraft_controller_unclean_elections_total"), _ => true, TimeSpan.Zero);

        string survivorBootstrap = string.Join(',', Enumerable.Range(1, 3).Where(n => n != oldLeader).Select(n => $"127.0.0.1:{cluster.BasePort + n - 1}"));
        var clock = Stopwatch.StartNew();
        cluster.Kill(oldLeader);
        (int Leader, int Epoch, long HighWatermark, Dictionary<int, long> Voters)? after = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            after = await QuorumAsync(survivorBootstrap);
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

        // "strict" (min.insync.replicas=3) is under its minimum wherever a survivor leads it.
        double underMinIsr = await SumOverNodesAsync(survivorPorts, t => Sum(t, "kraft_broker_under_min_isr_partitions"), v => v > 0, TimeSpan.FromSeconds(10));
        Assert.True(underMinIsr > 0, "the metrics never showed under-min-ISR partitions while a broker of a min.insync.replicas=3 topic was down");

        // The survivor that took over the quorum won an election.
        double wonAfter = await SumOverNodesAsync(survivorPorts, t => Sum(t, "kraft_raft_elections_total", "result=\"won\""), v => v > wonBefore, TimeSpan.FromSeconds(5));
        Assert.True(wonAfter > wonBefore, $"no won Raft election counted on the survivors ({wonBefore} before, {wonAfter} after)");

        // Unclean election: a "lonely" partition whose only replica (and ISR) is the dead node gets a second replica by
        // reassignment, which is not in the ISR; `leaders elect --unclean` makes it the leader.
        string survivors = survivorBootstrap;
        int adopter = Enumerable.Range(1, 3).First(n => n != oldLeader);
        var lonely = await cluster.DescribeAsync("lonely");
        int stranded = lonely.EnumerateArray()
            .Where(p => p.GetProperty("replicas").EnumerateArray().Select(r => r.GetInt32()).SequenceEqual([oldLeader]))
            .Select(p => p.GetProperty("partition").GetInt32()).DefaultIfEmpty(-1).First();
        Assert.True(stranded >= 0, "no partition of lonely was placed on the killed node alone: " + lonely);
        (code, _, error) = await cluster.Kraft("partitions", "reassign", "-t", "lonely", "-p", stranded.ToString(CultureInfo.InvariantCulture),
            "--replicas", $"{oldLeader},{adopter}", "--no-wait", "-b", survivors);
        Assert.True(code == 0, "reassign: " + error);
        (code, _, error) = await cluster.Kraft("leaders", "elect", "-t", "lonely", "-p", stranded.ToString(CultureInfo.InvariantCulture), "--unclean", "-b", survivors);
        Assert.True(code == 0, "unclean election: " + error + "\n" + cluster.Logs());
        double uncleanAfter = await SumOverNodesAsync(survivorPorts, t => Sum(t, "kraft_controller_unclean_elections_total"), v => v > uncleanBefore, TimeSpan.FromSeconds(5));
        Assert.True(uncleanAfter == uncleanBefore + 1, $"the unclean election should be counted once ({uncleanBefore} before, {uncleanAfter} after)");
        Console.WriteLine($"metrics while node {oldLeader} was down: under-min-ISR {underMinIsr}, ISR shrinks {shrinks}, Raft elections won {wonBefore} -> {wonAfter}, unclean elections {uncleanBefore} -> {uncleanAfter}");

        // Metadata written while it was down, then the node comes back and catches up.
        (code, _, error) = await cluster.Kraft("topics", "create", "while-down", "--partitions", "2", "--replication-factor", "2", "-b", survivors);
        Assert.True(code == 0, error);
        cluster.Restart(oldLeader);
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(45);
        bool caughtUp = false, healthy = false;
        string lastMetrics = "";
        while (!(caughtUp && healthy) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            var q = await QuorumAsync(cluster.Bootstrap);
            caughtUp = q is { } x && x.Voters.TryGetValue(oldLeader, out long end) && end >= x.HighWatermark;
            double total = 0;
            bool all = true;
            foreach (int port in allPorts)
            {
                try
                {
                    string text = await MetricsTextAsync(port);
                    total += Sum(text, "kraft_broker_under_replicated_partitions") + Sum(text, "kraft_broker_under_min_isr_partitions");
                    lastMetrics = text;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    all = false;
                }
            }
            healthy = all && total == 0;
        }
        Assert.True(caughtUp, "the restarted node did not catch up with the metadata log\n" + cluster.Logs());
        Assert.True(healthy, "under-replicated or under-min-ISR partitions did not return to 0 after the restart\n" + cluster.Logs());

        // The restarted node reports its Raft state: exactly one state gauge is 1.
        string restarted = await MetricsTextAsync(httpPortOf(oldLeader));
        Assert.Equal(1, Sum(restarted, "kraft_raft_state"));
        Assert.Contains("kraft_storage_flush_latency_seconds_count{log=\"metadata\"}", restarted);
    }
}
