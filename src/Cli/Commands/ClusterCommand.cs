using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Kraft.Protocol.Client;
using Kraft.Protocol.Messages;
using Spectre.Console;

namespace Kraft.Cli.Commands;

/// <summary>
/// <c>kraft cluster up|down|status</c>: a local cluster of N combined (controller+broker) nodes (default 3), plus
/// optional broker-only nodes (--brokers, Raft observers), or controller-only and broker-only nodes (--controllers), as separate OS
/// processes, each with its own generated config under DIR/node-N/. `up` waits until the quorum has a leader and
/// every broker is registered and unfenced, then stays in the foreground with a status line (Ctrl-C stops every
/// node cleanly) or, with --detach, leaves them running with pid files. Running `up` again on the same DIR resumes
/// the same cluster with its data. Dev timeouts are shorter than Kafka's defaults (see the generated configs).
/// </summary>
public static class ClusterCommand
{
    public static Command Build()
    {
        var nodes = new Option<int>("--nodes", "-n") { Description = "Number of combined (controller+broker) nodes", DefaultValueFactory = _ => 3 };
        var brokers = new Option<int>("--brokers") { Description = "Extra broker-only nodes (process.roles=broker, Raft observers), numbered after the others", DefaultValueFactory = _ => 0 };
        var controllers = new Option<int>("--controllers") { Description = "Separate roles: this many controller-only nodes form the quorum (replaces --nodes; add brokers with --brokers)", DefaultValueFactory = _ => 0 };
        var dir = new Option<string>("--dir") { Description = "Directory for configs, data and logs", DefaultValueFactory = _ => DevCluster.DefaultDirectory };
        var basePort = new Option<int>("--base-port") { Description = "First broker port; node N listens on BASE+N-1 (brokers), BASE+100+N-1 (controllers), BASE+200+N-1 (HTTP)", DefaultValueFactory = _ => DevCluster.DefaultBasePort };
        var detach = new Option<bool>("--detach", "-d") { Description = "Leave the nodes running in the background and return" };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the cluster to be ready", DefaultValueFactory = _ => 90 };
        var hosts = new Option<string>("--hosts")
        {
            Description = "Listener address per node: \"per-node\" puts node N on 127.0.0.(N+1) (outbound connections leave from it too), or a comma-separated list of one IP address per node; default: every node on 127.0.0.1",
        };
        var set = new Option<string[]>("--set") { Description = "Add a property to every node's generated config: --set key=value (repeatable)", AllowMultipleArgumentsPerToken = false };
        var up = new Command("up", "Start (or resume) a local cluster and wait until it is ready") { nodes, brokers, controllers, dir, basePort, detach, timeout, hosts, set };
        up.SetAction((p, ct) =>
        {
            int controllerOnly = p.GetValue(controllers);
            var layout = controllerOnly > 0
                ? DevLayout.Separate(controllerOnly, p.GetValue(brokers))
                : DevLayout.CombinedWith(p.GetValue(nodes), p.GetValue(brokers));
            return UpAsync(p, layout, p.GetValue(dir)!, p.GetValue(basePort), p.GetValue(detach), p.GetValue(timeout), p.GetValue(hosts), p.GetValue(set) ?? [], ct);
        });

        var downDir = new Option<string>("--dir") { Description = "The cluster's directory", DefaultValueFactory = _ => DevCluster.DefaultDirectory };
        var down = new Command("down", "Stop every node of a local cluster started with --detach") { downDir };
        down.SetAction((p, ct) => DownAsync(p.GetValue(downDir)!, p.InvocationConfiguration.Output, p.InvocationConfiguration.Error));

        var status = new Command("status", "Brokers, controller quorum, under-replicated and offline partitions");
        status.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, StatusAsync));

        return new Command("cluster", "Run and inspect a local development cluster") { up, down, status };
    }

    private static string NodeDir(string dir, int node) => Path.Combine(dir, $"node-{node}");

    /// <summary>Which node ids have which roles: ids 1..Total, controllers first.</summary>
    internal sealed record DevLayout(int Combined, int ControllerOnly, int BrokerOnly)
    {
        public static DevLayout CombinedWith(int nodes, int brokers) => new(nodes, 0, brokers);

        public static DevLayout Separate(int controllers, int brokers) => new(0, controllers, brokers);

        public int Total => Combined + ControllerOnly + BrokerOnly;

        public int Voters => Combined + ControllerOnly;

        public IEnumerable<int> VoterIds => Enumerable.Range(1, Voters);

        public IEnumerable<int> BrokerIds => Enumerable.Range(1, Total).Where(IsBroker);

        public int BrokerCount => Combined + BrokerOnly;

        public bool IsBroker(int node) => node <= Combined || node > Voters;

        public bool IsController(int node) => node <= Voters;

        public string Roles(int node) => (IsBroker(node), IsController(node)) switch
        {
            (true, true) => "broker,controller",
            (true, false) => "broker",
            _ => "controller",
        };

        public string Describe() =>
            ControllerOnly > 0 ? $"{ControllerOnly} controllers, {BrokerOnly} brokers"
            : BrokerOnly > 0 ? $"{Combined} combined nodes and {BrokerOnly} broker-only nodes"
            : $"{Combined} brokers, controller quorum of {Combined}";
    }

    private static string WriteConfig(string dir, int node, DevLayout layout, int basePort, IReadOnlyList<string> hosts, IReadOnlyList<string> extra)
    {
        string host = DevCluster.Host(hosts, node);
        string nodeDir = Path.GetFullPath(NodeDir(dir, node));
        Directory.CreateDirectory(nodeDir);
        string voters = string.Join(',', layout.VoterIds.Select(n => $"{n}@{DevCluster.Host(hosts, n)}:{DevCluster.ControllerPort(basePort, n)}"));
        int brokers = layout.BrokerCount;
        var listeners = new List<string>();
        if (layout.IsBroker(node)) listeners.Add($"PLAINTEXT://{host}:{DevCluster.BrokerPort(basePort, node)}");
        if (layout.IsController(node)) listeners.Add($"CONTROLLER://{host}:{DevCluster.ControllerPort(basePort, node)}");
        string path = Path.Combine(nodeDir, "server.properties");
        File.WriteAllText(path, string.Join('\n',
            "# Generated by `kraft cluster up` (local development cluster). Kafka's property names.",
            $"node.id={node}",
            $"process.roles={layout.Roles(node)}",
            // Broker-only nodes learn the voters from the controllers (KIP-853 style), which also exercises that path.
            layout.IsController(node) ? $"controller.quorum.voters={voters}"
                : $"controller.quorum.bootstrap.servers={string.Join(',', layout.VoterIds.Select(n => $"{DevCluster.Host(hosts, n)}:{DevCluster.ControllerPort(basePort, n)}"))}",
            $"listeners={string.Join(',', listeners)}",
            layout.IsBroker(node) ? $"advertised.listeners=PLAINTEXT://{host}:{DevCluster.BrokerPort(basePort, node)}" : "",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            $"http.listener={host}:{DevCluster.HttpPort(basePort, node)}",
            $"log.dirs={Path.Combine(nodeDir, "data")}",
            $"metadata.log.dir={Path.Combine(nodeDir, "metadata")}",
            "# Shorter than Kafka's defaults so that failover is quick on a laptop:",
            "broker.heartbeat.interval.ms=500",
            "broker.session.timeout.ms=3000",
            "controller.quorum.election.timeout.ms=500",
            "controller.quorum.fetch.timeout.ms=1000",
            "replica.lag.time.max.ms=5000",
            $"default.replication.factor={Math.Min(3, brokers)}",
            $"min.insync.replicas={(brokers >= 3 ? 2 : 1)}",
            $"offsets.topic.replication.factor={Math.Min(3, brokers)}",
            "# 10 offsets partitions instead of Kafka's 50: fewer logs to open and load on a laptop.",
            "offsets.topic.num.partitions=10",
            extra.Count > 0 ? "# From `cluster up --set`:\n" + string.Join('\n', extra) : "",
            "") + "\n");
        return path;
    }

    private static async Task<int> UpAsync(ParseResult parse, DevLayout layout, string dir, int basePort, bool detach, int timeoutSeconds, string? hostList, string[] extra, CancellationToken cancellationToken)
    {
        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        int nodes = layout.Total;
        if (layout.Voters < 1 || layout.BrokerCount < 1 || layout.BrokerOnly < 0 || nodes > 9)
        {
            error.WriteLine("kraft: a cluster needs at least one controller and one broker, and at most 9 nodes in all (--nodes/--controllers plus --brokers)");
            return ExitCodes.UsageError;
        }
        if (DevCluster.ParseHosts(hostList, nodes, out string? hostsError) is not { } hosts)
        {
            error.WriteLine("kraft: " + hostsError);
            return ExitCodes.UsageError;
        }
        if (extra.FirstOrDefault(e => e.IndexOf('=', StringComparison.Ordinal) <= 0 || e.Contains('\n', StringComparison.Ordinal)) is { } bad)
        {
            error.WriteLine($"kraft: --set takes key=value, not '{bad}'");
            return ExitCodes.UsageError;
        }
        string self = SelfCommand();
        string clusterIdFile = Path.Combine(dir, "cluster.id");
        Directory.CreateDirectory(dir);
        string clusterId = File.Exists(clusterIdFile) ? File.ReadAllText(clusterIdFile).Trim() : Guid.NewGuid().ToString("N")[..22];
        File.WriteAllText(clusterIdFile, clusterId + "\n");

        var processes = new List<Process>();
        for (int node = 1; node <= nodes; node++)
        {
            string pidFile = Path.Combine(NodeDir(dir, node), "kraft.pid");
            if (File.Exists(pidFile) && IsRunning(int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture)))
            {
                error.WriteLine($"kraft: node {node} is already running (pid file {pidFile}); run `kraft cluster down --dir {dir}` first");
                foreach (var p in processes) Stop(p);
                return ExitCodes.Failure;
            }
            string config = WriteConfig(dir, node, layout, basePort, hosts, extra);
            string log = Path.Combine(NodeDir(dir, node), "server.log");
            var start = new ProcessStartInfo("/bin/sh", ["-c", $"exec {self} server --config \"{config}\" --cluster-id {clusterId} >>\"{log}\" 2>&1"])
            {
                UseShellExecute = false,
            };
            var process = Process.Start(start)!;
            File.WriteAllText(pidFile, process.Id.ToString(CultureInfo.InvariantCulture) + "\n");
            processes.Add(process);
        }

        string bootstrap = string.Join(',', layout.BrokerIds.Select(n => $"{DevCluster.Host(hosts, n)}:{DevCluster.BrokerPort(basePort, n)}"));
        output.WriteLine($"Starting {nodes} nodes in {Path.GetFullPath(dir)} (logs: {dir}/node-N/server.log)...");
        var ready = await WaitReadyAsync(bootstrap, layout.BrokerCount, processes, TimeSpan.FromSeconds(timeoutSeconds), cancellationToken).ConfigureAwait(false);
        if (ready is not null)
        {
            error.WriteLine($"kraft: the cluster did not become ready: {ready}");
            foreach (var p in processes) Stop(p);
            return ExitCodes.Failure;
        }
        output.WriteLine($"Cluster {clusterId} is up: {layout.Describe()}.");
        output.WriteLine($"Bootstrap servers: {bootstrap}");
        if (detach)
        {
            output.WriteLine($"Running in the background. Stop with: ./kraft cluster down --dir {dir}");
            return ExitCodes.Ok;
        }
        output.WriteLine("Press Ctrl-C to stop every node.");
        try
        {
            if (Spectre.Console.AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected)
            {
                await LivePanelAsync(bootstrap, processes, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                while (!cancellationToken.IsCancellationRequested)
                {
                    await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                    var dead = processes.Select((p, i) => (p, i)).Where(x => x.p.HasExited).Select(x => x.i + 1).ToList();
                    output.WriteLine($"[{DateTime.Now:HH:mm:ss}] nodes running: {processes.Count(p => !p.HasExited)}/{nodes}" + (dead.Count > 0 ? $" (stopped: {string.Join(',', dead)})" : ""));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        output.WriteLine("Stopping every node...");
        StopAll(processes);
        for (int node = 1; node <= nodes; node++) File.Delete(Path.Combine(NodeDir(dir, node), "kraft.pid"));
        return ExitCodes.Ok;
    }

    /// <summary>
    /// The foreground status panel on an interactive terminal: each node's process, the brokers the cluster sees
    /// (unfenced), the metadata quorum (leader, epoch, high watermark, lag per voter) and partition health,
    /// refreshed every second until Ctrl-C.
    /// </summary>
    private static async Task LivePanelAsync(string bootstrap, List<Process> processes, CancellationToken cancellationToken)
    {
        var table = new Spectre.Console.Table { Border = Spectre.Console.TableBorder.Rounded };
        table.AddColumns("node", "process", "broker", "quorum", "log end (lag)");
        await Spectre.Console.AnsiConsole.Live(table).StartAsync(async context =>
        {
            await using var client = new KafkaClient(new KafkaClientOptions
            {
                BootstrapServers = bootstrap.Split(','),
                ClientId = "kraft-cluster-panel",
                ConnectTimeout = TimeSpan.FromSeconds(1),
                RequestTimeout = TimeSpan.FromSeconds(2),
            });
            while (!cancellationToken.IsCancellationRequested)
            {
                MetadataResponse? metadata = null;
                DescribeQuorumResponse.PartitionData? quorum = null;
                try
                {
                    client.InvalidateMetadata();
                    metadata = await client.MetadataAsync(null, cancellationToken).ConfigureAwait(false);
                    quorum = (await client.DescribeQuorumAsync(cancellationToken).ConfigureAwait(false)).Topics.FirstOrDefault()?.Partitions.FirstOrDefault();
                }
                catch (Exception e) when (e is KafkaClientException or IOException or System.Net.Sockets.SocketException or TimeoutException or InvalidOperationException)
                {
                }
                table.Rows.Clear();
                for (int i = 0; i < processes.Count; i++)
                {
                    int node = i + 1;
                    bool alive = !processes[i].HasExited;
                    bool registered = metadata?.Brokers.Any(b => b.NodeId == node) ?? false;
                    var voter = quorum?.CurrentVoters.FirstOrDefault(v => v.ReplicaId == node);
                    string role = quorum is null ? "?" : quorum.LeaderId == node ? $"[bold]leader[/] (epoch {quorum.LeaderEpoch})" : voter is null ? "-" : "follower";
                    string logEnd = voter is null || quorum is null ? "-" : $"{voter.LogEndOffset} ({Math.Max(0, quorum.HighWatermark - voter.LogEndOffset)})";
                    table.AddRow(node.ToString(CultureInfo.InvariantCulture), alive ? "[green]running[/]" : "[red]stopped[/]",
                        registered ? "[green]unfenced[/]" : "[yellow]fenced/absent[/]", role, logEnd);
                }
                var partitions = metadata?.Topics.SelectMany(t => t.Partitions).ToList() ?? [];
                table.Caption($"{metadata?.Topics.Count ?? 0} topics, {partitions.Count} partitions, " +
                    $"{partitions.Count(p => p.LeaderId >= 0 && p.IsrNodes.Count < p.ReplicaNodes.Count)} under-replicated, " +
                    $"{partitions.Count(p => p.LeaderId < 0)} offline  |  {DateTime.Now:HH:mm:ss}  |  Ctrl-C stops every node");
                context.Refresh();
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            }
        }).ConfigureAwait(false);
    }

    /// <summary>How to run this same kraft again: the apphost, or `dotnet kraft.dll` when started through dotnet (tests).</summary>
    private static string SelfCommand()
    {
        string process = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find the kraft executable");
        if (Path.GetFileNameWithoutExtension(process) == "dotnet")
        {
            string entry = System.Reflection.Assembly.GetEntryAssembly()?.Location ?? typeof(ClusterCommand).Assembly.Location;
            if (Path.GetFileNameWithoutExtension(entry) != "kraft")
            {
                entry = Path.Combine(AppContext.BaseDirectory, "kraft.dll");
            }
            return $"\"{process}\" \"{entry}\"";
        }
        return $"\"{process}\"";
    }

    /// <summary>Null when ready; otherwise why not.</summary>
    private static async Task<string?> WaitReadyAsync(string bootstrap, int nodes, List<Process> processes, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        string last = "no broker answered yet";
        while (DateTime.UtcNow < deadline && !cancellationToken.IsCancellationRequested)
        {
            if (processes.FirstOrDefault(p => p.HasExited) is { } exited)
            {
                return $"node {processes.IndexOf(exited) + 1} exited with code {exited.ExitCode} (see its server.log)";
            }
            try
            {
                await using var client = new KafkaClient(new KafkaClientOptions
                {
                    BootstrapServers = bootstrap.Split(','),
                    ClientId = "kraft-cluster-up",
                    ConnectTimeout = TimeSpan.FromSeconds(1),
                    RequestTimeout = TimeSpan.FromSeconds(3),
                });
                var metadata = await client.MetadataAsync([], cancellationToken).ConfigureAwait(false);
                if (metadata.Brokers.Count == nodes && metadata.ControllerId >= 0)
                {
                    return null;
                }
                last = $"{metadata.Brokers.Count}/{nodes} brokers unfenced, controller {(metadata.ControllerId >= 0 ? metadata.ControllerId.ToString(CultureInfo.InvariantCulture) : "unknown")}";
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                last = e.Message;
            }
            await Task.Delay(500, cancellationToken).ConfigureAwait(false);
        }
        return $"timed out: {last}";
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>SIGTERM to every node at once (each does its controlled shutdown in parallel), then SIGKILL stragglers after 20 s.</summary>
    private static void StopAll(List<Process> processes)
    {
        foreach (var p in processes.Where(p => !p.HasExited)) Signal(p.Id, "TERM");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        foreach (var p in processes)
        {
            var remaining = deadline - DateTime.UtcNow;
            if (!p.WaitForExit(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero))
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit();
            }
        }
    }

    /// <summary>SIGTERM (clean, controlled shutdown), then SIGKILL after 20 s.</summary>
    private static void Stop(Process process)
    {
        if (process.HasExited) return;
        Signal(process.Id, "TERM");
        if (!process.WaitForExit(TimeSpan.FromSeconds(20)))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
    }

    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    private static Task<int> DownAsync(string dir, TextWriter output, TextWriter error)
    {
        if (!Directory.Exists(dir))
        {
            error.WriteLine($"kraft: no cluster directory {dir}");
            return Task.FromResult(ExitCodes.Failure);
        }
        int stopped = 0;
        var pidFiles = Directory.GetDirectories(dir, "node-*").Select(d => Path.Combine(d, "kraft.pid")).Where(File.Exists).ToList();
        var running = new List<(int Pid, string File)>();
        foreach (var file in pidFiles)
        {
            int pid = int.Parse(File.ReadAllText(file).Trim(), CultureInfo.InvariantCulture);
            if (IsRunning(pid))
            {
                Signal(pid, "TERM");
                running.Add((pid, file));
            }
            else
            {
                File.Delete(file);
            }
        }
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(25);
        foreach (var (pid, file) in running)
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                var remaining = deadline - DateTime.UtcNow;
                if (!process.WaitForExit(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero))
                {
                    Signal(pid, "KILL");
                }
            }
            catch (ArgumentException)
            {
                // Already gone.
            }
            File.Delete(file);
            stopped++;
        }
        output.WriteLine(stopped == 0 ? "No node was running." : $"Stopped {stopped} node(s).");
        return Task.FromResult(ExitCodes.Ok);
    }

    private static async Task<int> StatusAsync(KafkaClient client, Output output, CancellationToken cancellationToken)
    {
        var metadata = await client.MetadataAsync(null, cancellationToken).ConfigureAwait(false);
        DescribeQuorumResponse? quorum = null;
        try
        {
            quorum = await client.DescribeQuorumAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaClientException)
        {
        }
        var q = quorum?.Topics.FirstOrDefault()?.Partitions.FirstOrDefault();
        var partitions = metadata.Topics.SelectMany(t => t.Partitions.Select(p => (Topic: t.Name ?? "", p))).ToList();
        var under = partitions.Where(x => x.p.LeaderId >= 0 && x.p.IsrNodes.Count < x.p.ReplicaNodes.Count).ToList();
        var offline = partitions.Where(x => x.p.LeaderId < 0).ToList();
        if (output.Json)
        {
            output.WriteJson(new
            {
                clusterId = metadata.ClusterId,
                controller = metadata.ControllerId,
                brokers = metadata.Brokers.Select(b => new { id = b.NodeId, host = (string?)b.Host, port = b.Port, rack = b.Rack, fenced = false })
                    .Concat((q?.CurrentVoters.Select(v => v.ReplicaId).Where(id => metadata.Brokers.All(b => b.NodeId != id)) ?? []).Select(id => new { id, host = (string?)null, port = -1, rack = (string?)null, fenced = true })),
                quorum = q is null ? null : new { leader = q.LeaderId, epoch = q.LeaderEpoch, highWatermark = q.HighWatermark, voters = q.CurrentVoters.Select(v => new { id = v.ReplicaId, logEndOffset = v.LogEndOffset, lag = q.HighWatermark - v.LogEndOffset }) },
                topics = metadata.Topics.Count,
                partitions = partitions.Count,
                underReplicated = under.Select(x => $"{x.Topic}-{x.p.PartitionIndex}"),
                offline = offline.Select(x => $"{x.Topic}-{x.p.PartitionIndex}"),
            });
            return ExitCodes.Ok;
        }
        output.Out.WriteLine($"Cluster {metadata.ClusterId}, active controller: node {metadata.ControllerId}");
        output.Out.WriteLine();
        // Metadata lists only unfenced brokers; a quorum voter missing from it is a combined node whose broker is fenced or down.
        var fenced = q?.CurrentVoters.Select(v => v.ReplicaId).Where(id => metadata.Brokers.All(b => b.NodeId != id)).ToList() ?? [];
        output.WriteTable(["BROKER", "ADDRESS", "RACK", "STATE"],
            metadata.Brokers.OrderBy(b => b.NodeId).Select(b => (IReadOnlyList<string>)[b.NodeId.ToString(CultureInfo.InvariantCulture), $"{b.Host}:{b.Port}", b.Rack ?? "-", "unfenced"])
                .Concat(fenced.Select(id => (IReadOnlyList<string>)[id.ToString(CultureInfo.InvariantCulture), "-", "-", "fenced or down"])));
        if (q is not null)
        {
            output.Out.WriteLine();
            output.Out.WriteLine($"Metadata quorum: leader {q.LeaderId}, epoch {q.LeaderEpoch}, high watermark {q.HighWatermark}");
            output.WriteTable(["VOTER", "LOG END", "LAG"], q.CurrentVoters.Select(v => (IReadOnlyList<string>)[v.ReplicaId.ToString(CultureInfo.InvariantCulture), v.LogEndOffset.ToString(CultureInfo.InvariantCulture), Math.Max(0, q.HighWatermark - v.LogEndOffset).ToString(CultureInfo.InvariantCulture)]));
        }
        output.Out.WriteLine();
        output.Out.WriteLine($"Topics: {metadata.Topics.Count}, partitions: {partitions.Count}, under-replicated: {under.Count}, offline: {offline.Count}");
        foreach (var x in under) output.Out.WriteLine($"  under-replicated: {x.Topic}-{x.p.PartitionIndex} (ISR {string.Join(',', x.p.IsrNodes)} of {string.Join(',', x.p.ReplicaNodes)})");
        foreach (var x in offline) output.Out.WriteLine($"  offline: {x.Topic}-{x.p.PartitionIndex}");
        return ExitCodes.Ok;
    }
}
