using System.CommandLine;
using System.Net.Sockets;
using Kraft.Protocol.Client;

namespace Kraft.Cli.Commands;

/// <summary>The local dev cluster's layout, shared by `cluster up` and every command's default bootstrap.</summary>
public static class DevCluster
{
    public const int DefaultBasePort = 9092;
    public const string DefaultDirectory = "data/dev";

    public static int BrokerPort(int basePort, int node) => basePort + node - 1;
    public static int ControllerPort(int basePort, int node) => basePort + 100 + node - 1;
    public static int HttpPort(int basePort, int node) => basePort + 200 + node - 1;

    public static string Bootstrap(int basePort, int nodes, IReadOnlyList<string>? hosts = null) =>
        string.Join(',', Enumerable.Range(1, nodes).Select(n => $"{Host(hosts, n)}:{BrokerPort(basePort, n)}"));

    /// <summary>Node N's listener address: 127.0.0.1 for every node by default, else the N-th of <paramref name="hosts"/>.</summary>
    public static string Host(IReadOnlyList<string>? hosts, int node) => hosts is null || hosts.Count == 0 ? "127.0.0.1" : hosts[node - 1];

    /// <summary>
    /// Parses `--hosts`: empty (every node on 127.0.0.1), "per-node" (node N on 127.0.0.(N+1): its own loopback
    /// address, so that firewall rules can match traffic between two nodes of one machine), or one IP address per
    /// node, comma-separated. Returns null and an error message when the list does not fit the node count.
    /// </summary>
    public static IReadOnlyList<string>? ParseHosts(string? value, int nodes, out string? error)
    {
        error = null;
        if (string.IsNullOrWhiteSpace(value))
        {
            return [];
        }
        if (value.Trim() == "per-node")
        {
            return Enumerable.Range(1, nodes).Select(n => $"127.0.0.{n + 1}").ToList();
        }
        var list = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (list.Length != nodes || list.Any(h => !System.Net.IPAddress.TryParse(h, out _)))
        {
            error = $"--hosts needs \"per-node\" or {nodes} IP addresses (one per node), not '{value}'";
            return null;
        }
        return list;
    }

    public static string DefaultBootstrap => Environment.GetEnvironmentVariable("KRAFT_BOOTSTRAP") ?? Bootstrap(DefaultBasePort, 3);
}

/// <summary>Options and error handling every client command shares.</summary>
public static class ClientCommand
{
    public static readonly Option<string> Bootstrap = new("--bootstrap-server", "-b")
    {
        Description = "Brokers to contact (host:port,...); default: the local dev cluster or $KRAFT_BOOTSTRAP",
        DefaultValueFactory = _ => DevCluster.DefaultBootstrap,
        Recursive = true,
    };

    /// <summary>
    /// Runs <paramref name="body"/> with a client; turns an unreachable cluster or a protocol failure into one line on
    /// stderr naming the addresses tried, and exit code 1. Never a stack trace.
    /// </summary>
    public static async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken, Func<KafkaClient, Output, CancellationToken, Task<int>> body)
    {
        string bootstrap = parse.GetValue(Bootstrap) ?? DevCluster.DefaultBootstrap;
        var output = new Output(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, parse.GetValue(KraftCommand.Output) == "json");
        var options = new KafkaClientOptions
        {
            BootstrapServers = bootstrap.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            ClientId = "kraft-cli",
            ConnectTimeout = TimeSpan.FromSeconds(3),
            RequestTimeout = TimeSpan.FromSeconds(30),
        };
        try
        {
            await using var client = new KafkaClient(options);
            return await body(client, output, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is KafkaClientException or SocketException or IOException or TimeoutException or InvalidOperationException)
        {
            output.Fail($"cannot complete the request against {bootstrap}: {e.Message}");
            return ExitCodes.Failure;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            output.Fail($"timed out talking to {bootstrap}");
            return ExitCodes.Failure;
        }
    }
}

/// <summary>All command output: results to stdout (table or JSON), diagnostics to stderr.</summary>
public sealed class Output(TextWriter stdout, TextWriter stderr, bool json)
{
    public bool Json { get; } = json;
    public TextWriter Out { get; } = stdout;
    public TextWriter Err { get; } = stderr;

    public void Fail(string message) => Err.WriteLine("kraft: " + message);

    public void WriteJson(object value) =>
        Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(value, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));

    /// <summary>A plain aligned table (no colours, so it pipes well).</summary>
    public void WriteTable(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        Out.WriteLine(string.Join("  ", headers.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        foreach (var row in all)
        {
            Out.WriteLine(string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
        }
    }
}
