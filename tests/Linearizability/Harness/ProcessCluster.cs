using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Kraft.Linearizability.Harness;

/// <summary>
/// A local Kraft cluster of real node processes, started the way a user starts one (<c>kraft cluster up --detach</c>
/// on free loopback ports), plus the signals the nemesis sends (SIGKILL, SIGSTOP, SIGCONT) and restarts with
/// <c>kraft server --config</c>. Role: process control for the harness; it knows nothing about workloads.
/// Invariants: every pid this cluster learns of is in <see cref="AllPids"/> until <see cref="Destroy"/> kills it, so
/// that a failure, Ctrl-C or process exit never leaves a node behind; node N's pid file holds its current pid.
/// Thread-safe: the nemesis and the final phase call it from different tasks; per-node state is under a lock.
/// </summary>
public sealed partial class ProcessCluster
{
    private const int SigKill = 9;
    private const int SigCont = 18;
    private const int SigStop = 19;

    /// <summary>Every node pid started by any cluster in this process, killed on exit as a last resort.</summary>
    private static readonly ConcurrentDictionary<int, byte> AllPids = new();

    private readonly object gate = new();
    private readonly HashSet<int> paused = [];
    private readonly HashSet<int> killed = [];

    static ProcessCluster()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillEverything();
    }

    /// <param name="perNodeHosts">Node N listens (and connects out) on 127.0.0.(N+1) instead of 127.0.0.1, so that
    /// firewall rules can tell nodes apart (<c>cluster up --hosts per-node</c>).</param>
    public ProcessCluster(string directory, int nodes, string kraftDll, bool perNodeHosts = false)
    {
        Directory = Path.GetFullPath(directory);
        Nodes = nodes;
        KraftDll = kraftDll;
        PerNodeHosts = perNodeHosts;
        BasePort = FreeBasePort(nodes);
    }

    public bool PerNodeHosts { get; }

    /// <summary>Node N's listener address (its broker, controller and HTTP listeners, and its outbound source address).</summary>
    public string Host(int node) => PerNodeHosts ? $"127.0.0.{node + 1}" : "127.0.0.1";

    public string BrokerAddress(int node) => $"{Host(node)}:{BrokerPort(node)}";

    public string Directory { get; }

    public int Nodes { get; }

    public string KraftDll { get; }

    public int BasePort { get; }

    public int BrokerPort(int node) => BasePort + node - 1;

    public IReadOnlyList<string> BootstrapServers => Enumerable.Range(1, Nodes).Select(BrokerAddress).ToList();

    /// <summary>The kraft.dll next to this assembly: the project reference to Kraft.Cli puts it there.</summary>
    public static string DefaultKraftDll() => Path.Combine(AppContext.BaseDirectory, "kraft.dll");

    /// <summary>Nodes currently SIGSTOPped or SIGKILLed by the nemesis.</summary>
    public IReadOnlyCollection<int> FaultedNodes
    {
        get
        {
            lock (gate)
            {
                return paused.Concat(killed).ToHashSet();
            }
        }
    }

    /// <summary>Nodes neither paused nor killed.</summary>
    public IReadOnlyList<int> HealthyNodes
    {
        get
        {
            var faulted = FaultedNodes;
            return Enumerable.Range(1, Nodes).Where(n => !faulted.Contains(n)).ToList();
        }
    }

    private string NodeDir(int node) => Path.Combine(Directory, $"node-{node}");

    public string LogPath(int node) => Path.Combine(NodeDir(node), "server.log");

    /// <summary>Runs <c>kraft cluster up --detach</c> and records the node pids.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(KraftDll))
        {
            throw new FileNotFoundException($"kraft.dll not found at {KraftDll}; build src/Cli or pass --kraft PATH/kraft.dll");
        }

        System.IO.Directory.CreateDirectory(Directory);
        string[] args =
        [
            KraftDll, "cluster", "up", "--detach", "--nodes", Nodes.ToString(CultureInfo.InvariantCulture),
            "--dir", Directory, "--base-port", BasePort.ToString(CultureInfo.InvariantCulture), "--timeout", "90",
            .. PerNodeHosts ? ["--hosts", "per-node"] : Array.Empty<string>(),
        ];
        var (code, output, error) = await RunAsync("dotnet", args, TimeSpan.FromSeconds(150), cancellationToken).ConfigureAwait(false);
        for (int node = 1; node <= Nodes; node++)
        {
            if (TryPid(node) is int pid)
            {
                AllPids.TryAdd(pid, 0);
            }
        }

        if (code != 0)
        {
            throw new InvalidOperationException($"kraft cluster up failed ({code}): {output} {error}\n{Logs()}");
        }
    }

    public int? TryPid(int node)
    {
        try
        {
            return int.Parse(File.ReadAllText(Path.Combine(NodeDir(node), "kraft.pid")).Trim(), CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>SIGKILL: the node dies without flushing anything (its page cache survives, as after a process crash).</summary>
    public void Kill(int node)
    {
        lock (gate)
        {
            if (TryPid(node) is int pid)
            {
                Signal(pid, SigKill);
                WaitExit(pid);
                AllPids.TryRemove(pid, out _);
            }

            paused.Remove(node);
            killed.Add(node);
        }
    }

    public void Pause(int node)
    {
        lock (gate)
        {
            if (!killed.Contains(node) && TryPid(node) is int pid)
            {
                Signal(pid, SigStop);
                paused.Add(node);
            }
        }
    }

    public void Resume(int node)
    {
        lock (gate)
        {
            if (paused.Remove(node) && TryPid(node) is int pid)
            {
                Signal(pid, SigCont);
            }
        }
    }

    /// <summary>Starts a killed node again with its generated config (its data is kept), as LocalCluster does.</summary>
    public void Restart(int node)
    {
        lock (gate)
        {
            if (!killed.Remove(node))
            {
                return;
            }

            string config = Path.Combine(NodeDir(node), "server.properties");
            var start = new ProcessStartInfo("/bin/sh", ["-c", $"exec dotnet \"{KraftDll}\" server --config \"{config}\" >>\"{LogPath(node)}\" 2>&1"])
            {
                UseShellExecute = false,
            };
            using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start dotnet");
            AllPids.TryAdd(process.Id, 0);
            File.WriteAllText(Path.Combine(NodeDir(node), "kraft.pid"), process.Id.ToString(CultureInfo.InvariantCulture) + "\n");
        }
    }

    /// <summary>
    /// Nodes that exited although the nemesis never killed them (a crash: see their server.log). They are marked
    /// killed so that the next <see cref="HealAll"/> restarts them.
    /// </summary>
    public IReadOnlyList<int> FindCrashed()
    {
        var crashed = new List<int>();
        lock (gate)
        {
            for (int node = 1; node <= Nodes; node++)
            {
                // kill(pid, 0) sends nothing; it fails when the process no longer exists.
                if (!killed.Contains(node) && TryPid(node) is int pid && SysKill(pid, 0) != 0)
                {
                    crashed.Add(node);
                    paused.Remove(node);
                    killed.Add(node);
                }
            }
        }

        return crashed;
    }

    /// <summary>Resumes every paused node and restarts every killed one.</summary>
    public void HealAll()
    {
        foreach (int node in Enumerable.Range(1, Nodes))
        {
            Resume(node);
            Restart(node);
        }
    }

    /// <summary>Kills every node of this cluster (SIGCONT first is not needed: SIGKILL ends stopped processes too).</summary>
    public void Destroy()
    {
        lock (gate)
        {
            for (int node = 1; node <= Nodes; node++)
            {
                if (TryPid(node) is int pid)
                {
                    Signal(pid, SigKill);
                    WaitExit(pid);
                    AllPids.TryRemove(pid, out _);
                }
            }

            paused.Clear();
        }
    }

    /// <summary>The last lines of every node's log, for error messages.</summary>
    public string Logs(int lines = 15) => string.Join('\n', Enumerable.Range(1, Nodes).Select(n =>
        File.Exists(LogPath(n)) ? $"--- node {n}\n" + string.Join('\n', File.ReadLines(LogPath(n)).TakeLast(lines)) : ""));

    private static void KillEverything()
    {
        foreach (int pid in AllPids.Keys)
        {
            Signal(pid, SigKill);
        }

        AllPids.Clear();
    }

    private static void Signal(int pid, int signal)
    {
        // ESRCH (already gone) is fine: the goal of every signal here is a state the process is already past.
        _ = SysKill(pid, signal);
    }

    private static void WaitExit(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.WaitForExit(TimeSpan.FromSeconds(10));
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            // Already gone.
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);

    private static async Task<(int Code, string Out, string Err)> RunAsync(string file, string[] args, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(file, args)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeout}");
        }

        return (process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    /// <summary>A base port whose broker, controller and HTTP port groups (100 apart) are all free right now.</summary>
    private static int FreeBasePort(int nodes)
    {
        var random = new Random();
        for (int attempt = 0; attempt < 100; attempt++)
        {
            // Below Linux's ephemeral range (32768-60999 by default), where other processes' outgoing connections and
            // port-0 listeners could take a port between this check and the node's bind.
            int candidate = random.Next(20000, 32400);
            if (Enumerable.Range(0, 3).SelectMany(g => Enumerable.Range(0, nodes).Select(n => candidate + (g * 100) + n)).All(IsFree))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("no free port range found");

        static bool IsFree(int port)
        {
            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }
    }
}
