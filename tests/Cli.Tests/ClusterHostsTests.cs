using Kraft.Cli.Commands;

namespace Kraft.Cli.Tests;

/// <summary>`kraft cluster up --hosts`: where each node of a local cluster listens.</summary>
public class ClusterHostsTests
{
    [Fact]
    public void Without_hosts_every_node_stays_on_127_0_0_1()
    {
        var hosts = DevCluster.ParseHosts(null, 3, out string? error);
        Assert.Null(error);
        Assert.Equal("127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094", DevCluster.Bootstrap(9092, 3, hosts));
        Assert.Equal(DevCluster.Bootstrap(9092, 3), DevCluster.Bootstrap(9092, 3, hosts));
    }

    [Fact]
    public void Per_node_puts_node_n_on_its_own_loopback_address()
    {
        var hosts = DevCluster.ParseHosts("per-node", 3, out _);
        Assert.Equal(["127.0.0.2", "127.0.0.3", "127.0.0.4"], hosts);
        Assert.Equal("127.0.0.2:21000,127.0.0.3:21001,127.0.0.4:21002", DevCluster.Bootstrap(21000, 3, hosts));
    }

    [Theory]
    [InlineData("10.0.0.1,10.0.0.2")]
    [InlineData("10.0.0.1,10.0.0.2,node-3")]
    public void A_host_list_needs_one_ip_address_per_node(string list)
    {
        Assert.Null(DevCluster.ParseHosts(list, 3, out string? error));
        Assert.Contains("--hosts", error);
        Assert.Equal(["10.0.0.1", "10.0.0.2", "10.0.0.3"], DevCluster.ParseHosts("10.0.0.1, 10.0.0.2,10.0.0.3", 3, out _));
    }

    [Fact]
    public void Cluster_up_refuses_a_host_list_that_does_not_fit_before_starting_anything()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        string dir = Path.Combine(Path.GetTempPath(), "kraft-hosts-" + Guid.NewGuid().ToString("N"));
        int code = KraftCommand.Run(["cluster", "up", "--nodes", "3", "--dir", dir, "--hosts", "127.0.0.2"], output, error);
        Assert.NotEqual(0, code);
        Assert.Contains("--hosts", error.ToString());
        Assert.False(Directory.Exists(Path.Combine(dir, "node-1")));
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }
}
