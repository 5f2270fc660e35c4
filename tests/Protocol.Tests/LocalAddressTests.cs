using System.Net;
using System.Net.Sockets;
using Kraft.Protocol.Client;

namespace Kraft.Protocol.Tests;

/// <summary>
/// <see cref="KafkaClientOptions.LocalAddress"/>: a node on its own address (127.0.0.N) connects out from it, so that
/// the peer, and firewall rules, see that address as the source.
/// </summary>
public class LocalAddressTests
{
    private static async Task<IPAddress> RemoteAddressSeenByServerAsync(IPAddress? local)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accept = listener.AcceptSocketAsync();
        var options = new KafkaClientOptions { LocalAddress = local, NegotiateApiVersions = false, ConnectTimeout = TimeSpan.FromSeconds(5) };
        await using var connection = await KafkaConnection.ConnectAsync("127.0.0.1", port, options, CancellationToken.None);
        using var accepted = await accept;
        var remote = ((IPEndPoint)accepted.RemoteEndPoint!).Address;
        return remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote;
    }

    [Fact]
    public async Task A_connection_with_a_local_address_leaves_from_it()
    {
        Assert.Equal(IPAddress.Parse("127.0.0.7"), await RemoteAddressSeenByServerAsync(IPAddress.Parse("127.0.0.7")));
    }

    [Fact]
    public async Task Without_a_local_address_the_kernel_picks_the_loopback_source()
    {
        Assert.Equal(IPAddress.Loopback, await RemoteAddressSeenByServerAsync(null));
    }
}
