using System.Globalization;
using System.Text.Json;
using Kraft.Cli.Tests.EndToEnd;

namespace Kraft.Cli.Tests.EndToEnd;

/// <summary>
/// The five-minute tour as a test, with real processes: a three-node cluster from one command, a topic with
/// replication factor 3, kcat producing with acks=all, SIGKILL of a partition leader, a new leader elected from
/// the ISR, more writes, the killed node restarted and back in the ISR, and every acknowledged record read back
/// exactly once.
/// </summary>
[Trait("Category", "EndToEnd")]
[Collection(LocalCluster.Collection)]
public class ClusterEndToEndTests
{
    private static async Task<(int, string, string)> Kcat(string input, params string[] args) =>
        await LocalCluster.Run("kcat", args, input, TimeSpan.FromSeconds(90));

    private static string Lines(int from, int to) =>
        string.Join('\n', Enumerable.Range(from, to - from).Select(i => $"key{i % 50}:value-{i}")) + "\n";

    [Fact]
    public async Task The_tour_survives_a_leader_kill_without_losing_an_acknowledged_record()
    {
        await using var cluster = new LocalCluster();
        await cluster.StartAsync();

        var (code, output, error) = await cluster.Kraft("topics", "create", "tour", "--partitions", "3", "--replication-factor", "3", "-b", cluster.Bootstrap);
        Assert.True(code == 0, error + cluster.Logs());
        Assert.Contains("Created topic tour", output);

        var (kcode, _, kerr) = await Kcat(Lines(0, 1000), "-b", cluster.Bootstrap, "-P", "-t", "tour", "-K", ":", "-X", "acks=all");
        Assert.True(kcode == 0, kerr);

        var partitions = await cluster.DescribeAsync("tour");
        var p0 = partitions.EnumerateArray().Single(p => p.GetProperty("partition").GetInt32() == 0);
        int oldLeader = p0.GetProperty("leader").GetInt32();
        int oldEpoch = p0.GetProperty("leaderEpoch").GetInt32();
        cluster.Kill(oldLeader);

        // A new leader from the ISR, in a higher leader epoch, within the session timeout (3 s in dev configs) plus slack.
        string survivors = string.Join(',', Enumerable.Range(1, 3).Where(n => n != oldLeader).Select(n => $"127.0.0.1:{cluster.BasePort + n - 1}"));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        JsonElement after = default;
        while (DateTime.UtcNow < deadline)
        {
            var (dcode, dout, _) = await cluster.Kraft("topics", "describe", "tour", "-o", "json", "-b", survivors);
            if (dcode == 0)
            {
                after = JsonDocument.Parse(dout).RootElement.EnumerateArray().Single(p => p.GetProperty("partition").GetInt32() == 0);
                if (after.GetProperty("leader").GetInt32() is int l && l != oldLeader && l >= 0) break;
            }
            await Task.Delay(250);
        }
        Assert.NotEqual(oldLeader, after.GetProperty("leader").GetInt32());
        Assert.True(after.GetProperty("leaderEpoch").GetInt32() > oldEpoch);

        (kcode, _, kerr) = await Kcat(Lines(1000, 1500), "-b", survivors, "-P", "-t", "tour", "-K", ":", "-X", "acks=all");
        Assert.True(kcode == 0, kerr);

        cluster.Restart(oldLeader);
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(45);
        bool fullIsr = false;
        while (!fullIsr && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            try
            {
                var now = await cluster.DescribeAsync("tour");
                fullIsr = now.EnumerateArray().All(p => p.GetProperty("isr").GetArrayLength() == 3);
            }
            catch (InvalidOperationException)
            {
            }
        }
        Assert.True(fullIsr, "the restarted broker did not rejoin every ISR\n" + cluster.Logs());

        var (ccode, consumed, cerr) = await Kcat("", "-b", cluster.Bootstrap, "-C", "-t", "tour", "-o", "beginning", "-e", "-q", "-f", "%s\\n");
        Assert.True(ccode == 0, cerr);
        var values = consumed.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var unique = values.ToHashSet();
        for (int i = 0; i < 1500; i++)
        {
            Assert.Contains($"value-{i}", unique);
        }
        Assert.Equal(values.Length, unique.Count); // no duplicates

        // The rest of the tour with Kraft's own commands: produce, consume, preferred-leader rebalance, quorum.
        var (pcode, _, perr) = await LocalCluster.Run("dotnet", [LocalCluster.KraftDll, "produce", "tour", "--acks", "all", "-b", cluster.Bootstrap],
            string.Join('\n', Enumerable.Range(0, 20).Select(i => $"kraft-{i}")) + "\n", TimeSpan.FromSeconds(60));
        Assert.True(pcode == 0, perr);
        (code, output, error) = await cluster.Kraft("consume", "tour", "--from-beginning", "--max", "1520", "--idle-timeout-ms", "5000", "-b", cluster.Bootstrap);
        Assert.True(code == 0, error);
        var consumedByKraft = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        Assert.Contains("kraft-19", consumedByKraft);
        Assert.Contains("value-1499", consumedByKraft);

        (code, output, error) = await cluster.Kraft("leaders", "rebalance", "-o", "json", "-b", cluster.Bootstrap);
        Assert.True(code == 0, error);
        var rebalance = JsonDocument.Parse(output).RootElement;
        Assert.True(rebalance.GetProperty("moved").GetInt32() >= 1, "the restarted broker's preferred leaderships should move back: " + output);
        var leaders = (await cluster.DescribeAsync("tour")).EnumerateArray().ToList();
        Assert.All(leaders, p => Assert.Equal(p.GetProperty("replicas")[0].GetInt32(), p.GetProperty("leader").GetInt32()));

        (code, output, error) = await cluster.Kraft("quorum", "describe", "-o", "json", "-b", cluster.Bootstrap);
        Assert.True(code == 0, error);
        Assert.Equal(3, JsonDocument.Parse(output).RootElement.GetProperty("replicas").GetArrayLength());

        (code, output, _) = await cluster.Kraft("cluster", "status", "-o", "json", "-b", cluster.Bootstrap);
        Assert.Equal(0, code);
        var status = JsonDocument.Parse(output).RootElement;
        Assert.Equal(3, status.GetProperty("brokers").GetArrayLength());
        Assert.Equal(0, status.GetProperty("offline").GetArrayLength());
    }

    [Fact]
    public async Task Bad_admin_requests_get_one_clear_line_and_a_non_zero_exit()
    {
        await using var cluster = new LocalCluster();
        await cluster.StartAsync();
        var (code, _, error) = await cluster.Kraft("topics", "create", "too-many", "--replication-factor", "5", "-b", cluster.Bootstrap);
        Assert.NotEqual(0, code);
        Assert.Contains("INVALID_REPLICATION_FACTOR", error);
        Assert.Single(error.Trim().Split('\n'));

        (code, _, error) = await cluster.Kraft("topics", "describe", "no-such-topic", "-b", cluster.Bootstrap);
        Assert.NotEqual(0, code);
        Assert.Contains("unknown topic", error);

        (code, _, error) = await cluster.Kraft("topics", "create", "bad/name", "-b", cluster.Bootstrap);
        Assert.NotEqual(0, code);
        Assert.Contains("INVALID_TOPIC_EXCEPTION", error);

        // auto.create.topics.enable (on by default): a producer's Metadata request creates the topic.
        var (kcode, _, kerr) = await Kcat("x\ny\n", "-b", cluster.Bootstrap, "-P", "-t", "auto-created", "-X", "acks=all");
        Assert.True(kcode == 0, kerr);
        (code, var described, _) = await cluster.Kraft("topics", "describe", "auto-created", "-o", "json", "-b", cluster.Bootstrap);
        Assert.Equal(0, code);
        Assert.Contains("auto-created", described);

        (code, _, error) = await LocalCluster.Run("dotnet", [LocalCluster.KraftDll, "topics", "list", "-b", "127.0.0.1:1"], "", TimeSpan.FromSeconds(60));
        Assert.Equal(1, code);
        Assert.Contains("127.0.0.1:1", error);
        Assert.DoesNotContain("   at ", error); // never a stack trace
    }
}
