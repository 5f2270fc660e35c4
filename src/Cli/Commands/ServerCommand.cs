using System.CommandLine;
using System.Runtime.InteropServices;
using Kraft.Broker.Configuration;
using Kraft.Broker.Node;
using Microsoft.Extensions.Logging;

namespace Kraft.Cli.Commands;

/// <summary>
/// <c>kraft server --config FILE [--set key=value]...</c>: runs one node in the foreground until SIGTERM or Ctrl-C,
/// then shuts down cleanly (controlled shutdown: leadership moves away first). The node's cluster id and node id are
/// recorded in meta.properties in metadata.log.dir on first start and checked on every start after.
/// </summary>
public static class ServerCommand
{
    public static Command Build()
    {
        var config = new Option<FileInfo>("--config", "-c") { Description = "A server.properties file (Kafka's property names)", Required = true };
        var set = new Option<string[]>("--set") { Description = "Override a property: --set key=value (repeatable)", AllowMultipleArgumentsPerToken = false };
        var clusterId = new Option<string?>("--cluster-id") { Description = "Cluster id to record on first start (default: from meta.properties, or generated)" };
        var command = new Command("server", "Run one Kraft node (controller and/or broker) in the foreground") { config, set, clusterId };
        command.SetAction((parse, ct) => RunAsync(parse.GetRequiredValue(config), parse.GetValue(set) ?? [], parse.GetValue(clusterId), parse.InvocationConfiguration.Error, ct));
        return command;
    }

    private static async Task<int> RunAsync(FileInfo file, string[] overrides, string? clusterIdOption, TextWriter error, CancellationToken cancellationToken)
    {
        if (!file.Exists)
        {
            error.WriteLine($"kraft: config file not found: {file.FullName}");
            return ExitCodes.UsageError;
        }
        NodeConfig config;
        try
        {
            config = NodeConfig.Load(file.FullName, overrides);
        }
        catch (ConfigException e)
        {
            foreach (var line in e.Errors.DefaultIfEmpty(e.Message)) error.WriteLine($"kraft: {line}");
            return ExitCodes.UsageError;
        }
        string clusterId;
        try
        {
            clusterId = MetaProperties.Ensure(config.MetadataLogDir, config.NodeId, clusterIdOption);
        }
        catch (InvalidOperationException e)
        {
            error.WriteLine($"kraft: {e.Message}");
            return ExitCodes.Failure;
        }

        using var loggers = LoggerFactory.Create(b => b
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
            .SetMinimumLevel(Environment.GetEnvironmentVariable("KRAFT_LOG_LEVEL") is { } level && Enum.TryParse<LogLevel>(level, true, out var l) ? l : LogLevel.Information));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; stop.Cancel(); });
        KraftNode node;
        try
        {
            node = await KraftNode.StartAsync(config, clusterId, loggers, stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ConfigException or IOException or System.Net.Sockets.SocketException or Kraft.Storage.StorageException)
        {
            error.WriteLine($"kraft: node {config.NodeId} cannot start: {e.Message}");
            return ExitCodes.Failure;
        }
        HttpEndpoint http;
        try
        {
            http = await HttpEndpoint.StartAsync(config, node, stop.Token).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            error.WriteLine($"kraft: node {config.NodeId} cannot start its HTTP listener ({config.HttpListener}): {e.Message}");
            await node.StopAsync(TimeSpan.Zero).ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        await using var httpScope = http;
        // Run until asked to stop, or until the Raft driver dies (a storage or invariant failure): then fail fast.
        var stopped = Task.Delay(Timeout.Infinite, stop.Token);
        var raftStopped = node.Raft?.Stopped ?? Task.Delay(Timeout.Infinite, stop.Token);
        var first = await Task.WhenAny(stopped, raftStopped).ConfigureAwait(false);
        if (first == raftStopped && !stop.IsCancellationRequested)
        {
            error.WriteLine($"kraft: node {config.NodeId}: the metadata quorum driver stopped: {node.Raft?.Fault?.Message ?? "unknown reason"}; exiting");
            await node.DisposeAsync().ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        await node.StopAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        return ExitCodes.Ok;
    }
}

/// <summary>meta.properties: the identity a node's storage belongs to (Kafka's file of the same name).</summary>
public static class MetaProperties
{
    public static string Ensure(string directory, int nodeId, string? requestedClusterId)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, "meta.properties");
        if (File.Exists(path))
        {
            var values = File.ReadAllLines(path).Where(l => l.Contains('=', StringComparison.Ordinal) && !l.StartsWith('#'))
                .ToDictionary(l => l[..l.IndexOf('=', StringComparison.Ordinal)].Trim(), l => l[(l.IndexOf('=', StringComparison.Ordinal) + 1)..].Trim());
            string stored = values.GetValueOrDefault("cluster.id") ?? throw new InvalidOperationException($"{path} has no cluster.id");
            if (values.TryGetValue("node.id", out var storedNode) && storedNode != nodeId.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                throw new InvalidOperationException($"{path} belongs to node {storedNode}, not node {nodeId}");
            }
            if (requestedClusterId is not null && requestedClusterId != stored)
            {
                throw new InvalidOperationException($"{path} belongs to cluster {stored}, not {requestedClusterId}");
            }
            return stored;
        }
        string clusterId = requestedClusterId ?? Convert.ToBase64String(Guid.NewGuid().ToByteArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        Kraft.Storage.IO.Durable.WriteAtomically(path, System.Text.Encoding.UTF8.GetBytes($"version=1\ncluster.id={clusterId}\nnode.id={nodeId}\n"));
        return clusterId;
    }
}
