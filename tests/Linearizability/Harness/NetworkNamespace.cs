using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Kraft.Linearizability.History;
using Kraft.Linearizability.Queue;

namespace Kraft.Linearizability.Harness;

/// <summary>
/// Runs a whole harness run inside a private network namespace (<c>kraft-jepsen-PID</c>) so that the partition
/// nemesis's nftables rules can never touch the host's traffic: the outer process creates the namespace, brings its
/// loopback up, re-executes this harness inside it (<c>ip netns exec NS dotnet Kraft.Linearizability.dll run ...</c>,
/// with <see cref="EnvironmentVariable"/> set so that it does not nest), relays its progress, and afterwards kills
/// every process left in the namespace and deletes it (normal end, exception, cancellation, Ctrl-C, SIGTERM, or process exit).
/// The node processes and the client workers all live in the namespace; they reach each other on 127.0.0.x.
/// Role: process isolation; the verdict is the inner run's. Needs root, <c>ip</c> (iproute2) and <c>nft</c> (nftables).
/// Owned by the calling task.
/// </summary>
public static partial class NetworkNamespace
{
    /// <summary>Set in the inner run to the namespace's name.</summary>
    public const string EnvironmentVariable = "KRAFT_JEPSEN_NETNS";

    private const int SigTerm = 15;
    private const int SigKill = 9;

    /// <summary>The namespace this process runs in by the harness's doing, or null.</summary>
    public static string? Current => Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } name ? name : null;

    /// <summary>Runs <paramref name="options"/> inside a new namespace and returns the inner run's result.</summary>
    public static async Task<RunResult> RunIsolatedAsync(RunOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        string dir = Path.GetFullPath(options.Dir);
        Directory.CreateDirectory(dir);
        string name = $"kraft-jepsen-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";
        if (!Environment.IsPrivilegedProcess)
        {
            return Failed(dir, "network partitions need root (ip netns and nft); run as root or drop the partition kinds");
        }

        SweepAbandoned();
        var (code, _, error) = NftFirewall.Run("ip", ["netns", "add", name], null);
        if (code != 0)
        {
            return Failed(dir, $"ip netns add {name} failed: {error.Trim()}");
        }

        void Cleanup() => Delete(name);
        EventHandler onExit = (_, _) => Cleanup();
        AppDomain.CurrentDomain.ProcessExit += onExit;
        try
        {
            var up = NftFirewall.Run("ip", ["netns", "exec", name, "ip", "link", "set", "lo", "up"], null);
            if (up.Code != 0)
            {
                return Failed(dir, $"cannot bring lo up in {name}: {up.Err.Trim()}");
            }

            // The inner run gets these options as a command line; one that does not parse back would fail there.
            if (RunOptions.Parse(options.ToArgs(), new RunOptions()) is string problem)
            {
                return Failed(dir, "cannot pass the options on: " + problem);
            }

            string dotnet = Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
            string harness = typeof(NetworkNamespace).Assembly.Location;
            var start = new ProcessStartInfo("ip", ["netns", "exec", name, dotnet, harness, "run", .. options.ToArgs(), "--per-node-hosts"])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.Environment[EnvironmentVariable] = name;
            await log.WriteLineAsync($"jepsen: running inside network namespace {name}").ConfigureAwait(false);
            using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start ip netns exec");
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            var relay = RelayAsync(process.StandardError, log);
            try
            {
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // `ip netns exec` execs the harness, so this pid is the inner run: SIGTERM makes it stop its nodes and
                // delete its rules (RunCommand handles it like Ctrl-C; SIGINT is not used because a shell starts
                // background jobs with SIGINT ignored, and the inner run inherits that); SIGKILL after a minute, and
                // the namespace sweep does the rest.
                _ = SysKill(process.Id, SigTerm);
                if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
                {
                    _ = SysKill(process.Id, SigKill);
                }

                throw;
            }

            await relay.ConfigureAwait(false);
            string line = (await stdout.ConfigureAwait(false)).Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "";
            string verdict = line.Split('\t') is [_, var v] ? v.Trim() : "error";
            return Rebuild(options, dir, process.ExitCode, verdict);
        }
        finally
        {
            Cleanup();
            AppDomain.CurrentDomain.ProcessExit -= onExit;
        }
    }

    /// <summary>
    /// Deletes namespaces an earlier harness left behind when it was itself SIGKILLed (no cleanup could run): only
    /// names of this harness's pattern, <c>kraft-jepsen-PID-*</c>, whose PID no longer exists.
    /// </summary>
    private static void SweepAbandoned()
    {
        var (code, list, _) = NftFirewall.Run("ip", ["netns", "list"], null);
        if (code != 0)
        {
            return;
        }

        foreach (var line in list.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string name = line.Split(' ')[0];
            if (name.StartsWith("kraft-jepsen-", StringComparison.Ordinal) && name.Split('-') is [_, _, var pid, _]
                && int.TryParse(pid, NumberStyles.Integer, CultureInfo.InvariantCulture, out int owner) && !Directory.Exists($"/proc/{owner}"))
            {
                Delete(name);
            }
        }
    }

    /// <summary>Kills every process still in the namespace (SIGKILL), then deletes it. Idempotent, best effort.</summary>
    public static void Delete(string name)
    {
        try
        {
            var (code, pids, _) = NftFirewall.Run("ip", ["netns", "pids", name], null);
            if (code == 0)
            {
                foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    if (int.TryParse(pid, NumberStyles.Integer, CultureInfo.InvariantCulture, out int id) && id != Environment.ProcessId)
                    {
                        _ = SysKill(id, SigKill);
                    }
                }
            }

            NftFirewall.Run("ip", ["netns", "delete", name], null);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Best effort: nothing more can be done from here.
        }
    }

    /// <summary>The outer result: the inner run's exit code and verdict, its summary (results.txt) and, for the
    /// queue workload, the checker's result recomputed from its history so that callers see the anomalies.</summary>
    private static RunResult Rebuild(RunOptions options, string dir, int exitCode, string verdict)
    {
        string results = Path.Combine(dir, "results.txt");
        var summary = File.Exists(results) ? File.ReadAllLines(results).Skip(1).ToList() : ["no results.txt: the inner run failed early (see its log above)"];
        QueueResult? queue = null;
        string history = Path.Combine(dir, "history.edn");
        if (options.Workload == "queue" && File.Exists(history))
        {
            queue = KafkaQueueChecker.Check(HistoryParser.ParseFile(history));
        }

        return new RunResult(exitCode, verdict, queue, dir, summary);
    }

    private static RunResult Failed(string dir, string message) => new(HarnessRun.HarnessError, "error", null, dir, [message]);

    private static async Task RelayAsync(StreamReader from, TextWriter to)
    {
        while (await from.ReadLineAsync().ConfigureAwait(false) is string line)
        {
            await to.WriteLineAsync(line).ConfigureAwait(false);
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);
}
