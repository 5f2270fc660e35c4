using System.Diagnostics;
using System.Text.Json;
using Kraft.Protocol.Client;

namespace Kraft.Cli.Tests.EndToEnd;

/// <summary>
/// A broker-only node (process.roles=broker) beside three combined nodes, as real processes: it follows the metadata
/// log as a Raft observer (it fetches and never votes), registers and heartbeats with the active controller, becomes
/// unfenced, leads partitions of a new topic and serves clients; DescribeQuorum lists it as an observer and
/// DescribeCluster (KIP-700) lists it as a broker. Its config names only controller.quorum.bootstrap.servers, so it
/// also proves that it learns the voters from a controller. After a SIGKILL and a restart it rejoins and is unfenced again.
/// </summary>
[Trait("Category", "EndToEnd")]
[Collection(LocalCluster.Collection)]
public class BrokerOnlyEndToEndTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static async Task<int> UnfencedBrokersAsync(string bootstrap)
    {
        try
        {
            await using var client = new KafkaClient(new KafkaClientOptions { BootstrapServers = bootstrap.Split(','), ConnectTimeout = TimeSpan.FromSeconds(1), RequestTimeout = TimeSpan.FromSeconds(3) });
            return (await client.MetadataAsync([])).Brokers.Count;
        }
        catch (Exception e) when (e is KafkaClientException or IOException or System.Net.Sockets.SocketException or TimeoutException or InvalidOperationException or OperationCanceledException)
        {
            return -1;
        }
    }

    [Fact]
    public async Task A_broker_only_node_observes_the_quorum_leads_partitions_serves_clients_and_rejoins_after_a_restart()
    {
        await using var cluster = new LocalCluster(nodes: 3, brokers: 1);
        await cluster.StartAsync(); // waits until all 4 brokers are registered and unfenced
        string brokerOnly = $"127.0.0.1:{cluster.BasePort + 3}";
        string config = await File.ReadAllTextAsync(Path.Combine(cluster.Directory, "node-4", "server.properties"));
        Assert.Contains("process.roles=broker\n", config);
        // It was given no voter list: it learned the voters from a controller (DescribeCluster, EndpointType 2).
        Assert.Contains("controller.quorum.bootstrap.servers=", config);
        Assert.DoesNotContain("controller.quorum.voters=", config);

        // The quorum: 3 voters, node 4 an observer that has caught up.
        var (code, output, error) = await cluster.Kraft("quorum", "describe", "-o", "json", "-b", brokerOnly);
        Assert.True(code == 0, error);
        var replicas = JsonDocument.Parse(output).RootElement.GetProperty("replicas").EnumerateArray().ToList();
        Assert.Equal([1, 2, 3], replicas.Where(r => r.GetProperty("kind").GetString() == "voter").Select(r => r.GetProperty("id").GetInt32()).Order());
        Assert.Contains(replicas, r => r.GetProperty("kind").GetString() == "observer" && r.GetProperty("id").GetInt32() == 4);

        // DescribeCluster answered by the broker-only node.
        await using (var client = new KafkaClient(new KafkaClientOptions { BootstrapServers = [brokerOnly] }))
        {
            var described = await client.DescribeClusterAsync();
            Assert.Equal(0, described.ErrorCode);
            Assert.Equal([1, 2, 3, 4], described.Brokers.Select(b => b.BrokerId));
            Assert.Equal((await File.ReadAllTextAsync(Path.Combine(cluster.Directory, "cluster.id"))).Trim(), described.ClusterId);
            Assert.InRange(described.ControllerId, 1, 3);
            Assert.Equal(int.MinValue, described.ClusterAuthorizedOperations);
        }

        // A new RF-3 topic created through the broker-only node: it holds replicas and leads some partitions.
        (code, _, error) = await cluster.Kraft("topics", "create", "observed", "--partitions", "8", "--replication-factor", "3", "-b", brokerOnly);
        Assert.True(code == 0, error);
        var partitions = (await cluster.DescribeAsync("observed")).EnumerateArray().ToList();
        Assert.Equal(8, partitions.Count);
        Assert.Contains(partitions, p => p.GetProperty("leader").GetInt32() == 4);

        // Clients bootstrapped from the broker-only node alone produce with acks=all and read everything back.
        var values = Enumerable.Range(0, 300).Select(i => $"v{i}").ToList();
        var (pcode, _, perr) = await LocalCluster.Run("kcat", ["-b", brokerOnly, "-P", "-t", "observed", "-X", "acks=all"], string.Join('\n', values) + "\n", TimeSpan.FromSeconds(60));
        Assert.True(pcode == 0, perr);
        var (ccode, consumed, cerr) = await LocalCluster.Run("kcat", ["-b", brokerOnly, "-C", "-t", "observed", "-o", "beginning", "-e", "-q", "-f", "%s\\n"], "", TimeSpan.FromSeconds(60));
        Assert.True(ccode == 0, cerr);
        Assert.Equal(values.Order(), consumed.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());

        // SIGKILL and restart: the observer reloads its metadata log, catches up, registers again and is unfenced.
        cluster.Kill(4);
        cluster.Restart(4);
        var stopwatch = Stopwatch.StartNew();
        // Asked of node 4 itself: it answers only once restarted, and counts 4 only once its own image shows itself unfenced.
        while (await UnfencedBrokersAsync(brokerOnly) != 4)
        {
            Assert.True(stopwatch.Elapsed < Patience, "the restarted broker-only node was not unfenced again\n" + cluster.Logs());
            await Task.Delay(250);
        }
        (ccode, consumed, cerr) = await LocalCluster.Run("kcat", ["-b", brokerOnly, "-C", "-t", "observed", "-o", "beginning", "-e", "-q", "-f", "%s\\n"], "", TimeSpan.FromSeconds(60));
        Assert.True(ccode == 0, cerr);
        Assert.Equal(values.Order(), consumed.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());
    }
}
