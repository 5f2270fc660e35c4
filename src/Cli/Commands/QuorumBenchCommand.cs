using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Kraft.Broker.RaftTransport;
using Kraft.Quorum.Raft;
using Kraft.Quorum.RaftDriver;
using Microsoft.Extensions.Logging;
using Driver = Kraft.Quorum.RaftDriver.RaftDriver;

namespace Kraft.Cli.Commands;

/// <summary>
/// <c>kraft bench quorum</c>: the metadata quorum alone, with real processes. Starts three hidden
/// <c>kraft bench quorum-node</c> processes (Raft driver, disk with fsync and TCP transport; no broker, no
/// controller), each with a temporary data directory and a free loopback port, waits for a leader, and asks the
/// leader's process to run two workloads on its own driver: a throughput run (closed loop, batches of records per
/// append call, several calls in flight) and a latency run (open loop at a fixed rate, one record per call; the
/// sender never waits for commits, so a stall shows as latency rather than as a lower rate). Append to
/// commit is measured on the leader: from the proposal to the moment its completion (commit in its epoch, i.e. the
/// high watermark passed it after a majority fsynced it) reaches the caller. Also measures the disk's own fsync rate
/// in the same directory, so the figures can be compared with the machine's limit of the same sitting.
/// </summary>
/// <remarks>
/// Coordinator and node talk over the node's stdin/stdout, one line per message: the node prints <c>role ...</c> on
/// every role change and <c>result {json}</c> after each workload; the coordinator writes <c>throughput ...</c>,
/// <c>rate ...</c> and <c>stop</c>. A node exits when its stdin closes, so a killed coordinator leaves nothing behind.
/// </remarks>
public static class QuorumBenchCommand
{

    public static Command Build()
    {
        var recordSize = new Option<int>("--record-size", "-s") { Description = "Bytes per record (one Raft entry per record)", DefaultValueFactory = _ => 100 };
        var seconds = new Option<double>("--duration-seconds") { Description = "Measured seconds of each run", DefaultValueFactory = _ => 10 };
        var warmup = new Option<double>("--warmup-seconds") { Description = "Seconds run before measuring (not counted; covers the JIT's tiering, which caused 10-18 ms stalls in the first seconds)", DefaultValueFactory = _ => 5 };
        var rate = new Option<int>("--rate") { Description = "Records/s of the open-loop latency run (one record per append call)", DefaultValueFactory = _ => 1000 };
        var batch = new Option<int>("--batch-records") { Description = "Records per append call in the throughput run", DefaultValueFactory = _ => 500 };
        var concurrency = new Option<int>("--concurrency") { Description = "Append calls in flight in the throughput run", DefaultValueFactory = _ => 8 };
        var fetchMaxEntries = new Option<int>("--fetch-max-entries") { Description = "Entries per Raft FetchResponse", DefaultValueFactory = _ => 1000 };
        var runs = new Option<string>("--runs") { Description = "Which runs: throughput, latency or both (comma-separated)", DefaultValueFactory = _ => "throughput,latency" };
        var portBase = new Option<int>("--port-base") { Description = "First of three loopback ports for the voters (default: free ports)", DefaultValueFactory = _ => 0 };
        var dir = new Option<string?>("--dir") { Description = "Where the voters keep their data (default: a new temporary directory, deleted afterwards)" };
        var snapshotEvery = new Option<int>("--snapshot-every-entries") { Description = "Also snapshot every N applied entries (0: only every 20 MiB of payloads, as the nodes do and Kafka's metadata.log.max.record.bytes.between.snapshots)", DefaultValueFactory = _ => 0 };
        var fsyncProbe = new Option<double>("--fsync-probe-seconds") { Description = "Seconds spent measuring the disk's 4 KiB write+fsync rate first (0: skip)", DefaultValueFactory = _ => 2 };
        var command = new Command("quorum", "Commit rate and latency of a 3-voter Raft quorum of separate processes (fsync on)")
        {
            recordSize, seconds, warmup, rate, batch, concurrency, fetchMaxEntries, runs, portBase, dir, fsyncProbe, snapshotEvery,
        };
        command.SetAction(async (p, ct) =>
        {
            var output = new Output(p.InvocationConfiguration.Output, p.InvocationConfiguration.Error, p.GetValue(KraftCommand.Output) == "json");
            var runList = (p.GetValue(runs) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            string? problem = p.GetValue(recordSize) is < 1 or > 1 << 20 ? "--record-size must be between 1 and 1048576"
                : p.GetValue(seconds) <= 0 ? "--duration-seconds must be positive"
                : p.GetValue(warmup) < 0 ? "--warmup-seconds must not be negative"
                : p.GetValue(rate) is < 1 or > 1_000_000 ? "--rate must be between 1 and 1000000"
                : p.GetValue(batch) is < 1 or > 100_000 ? "--batch-records must be between 1 and 100000"
                : p.GetValue(concurrency) is < 1 or > 1000 ? "--concurrency must be between 1 and 1000"
                : p.GetValue(fetchMaxEntries) < 1 ? "--fetch-max-entries must be positive"
                : p.GetValue(snapshotEvery) < 0 ? "--snapshot-every-entries must not be negative"
                : p.GetValue(portBase) is < 0 or > 65530 ? "--port-base must be a port number"
                : runList.Length == 0 || runList.Any(r => r is not ("throughput" or "latency")) ? "--runs takes throughput and/or latency"
                : null;
            if (problem is not null)
            {
                output.Fail(problem);
                return ExitCodes.UsageError;
            }
            var settings = new QuorumBenchSettings(p.GetValue(recordSize), p.GetValue(seconds), p.GetValue(warmup), p.GetValue(rate), p.GetValue(batch),
                p.GetValue(concurrency), p.GetValue(fetchMaxEntries), runList, p.GetValue(portBase), p.GetValue(dir), p.GetValue(fsyncProbe))
            {
                SnapshotEveryEntries = p.GetValue(snapshotEvery),
            };
            return await QuorumBench.RunAsync(settings, output, ct).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>The hidden per-voter process the coordinator starts.</summary>
    public static Command BuildNode()
    {
        var nodeId = new Option<int>("--node-id") { Required = true };
        var voters = new Option<string>("--voters") { Description = "id@host:port,...", Required = true };
        var dir = new Option<string>("--dir") { Required = true };
        var fetchMaxEntries = new Option<int>("--fetch-max-entries") { DefaultValueFactory = _ => 1000 };
        var snapshotEvery = new Option<int>("--snapshot-every-entries") { DefaultValueFactory = _ => 0 };
        var command = new Command("quorum-node", "(internal) one voter of `kraft bench quorum`, driven through stdin/stdout")
        {
            nodeId, voters, dir, fetchMaxEntries, snapshotEvery,
        };
        command.Hidden = true;
        command.SetAction((p, ct) => QuorumBenchNode.RunAsync(p.GetValue(nodeId), p.GetRequiredValue(voters), p.GetRequiredValue(dir), p.GetValue(fetchMaxEntries), p.GetValue(snapshotEvery),
            p.InvocationConfiguration.Output, p.InvocationConfiguration.Error, ct));
        return command;
    }
}

/// <summary>What one <c>bench quorum</c> run does.</summary>
public sealed record QuorumBenchSettings(
    int RecordSizeBytes, double DurationSeconds, double WarmupSeconds, int RatePerSecond, int BatchRecords, int Concurrency, int FetchMaxEntries,
    IReadOnlyList<string> Runs, int PortBase, string? Directory, double FsyncProbeSeconds)
{
    /// <summary>Extra snapshot trigger for the voters, in applied entries; 0 keeps the nodes' default (bytes only).</summary>
    public int SnapshotEveryEntries { get; init; }
}

/// <summary>One workload's result, measured on the leader (latencies in ms, from append call to commit seen by the caller).</summary>
public sealed record QuorumBenchResult(
    string Run, long CommittedRecords, double Seconds, double RecordsPerSecond, double MegabytesPerSecond, long AppendCalls, long Refused,
    double AvgMs, double P50Ms, double P95Ms, double P99Ms, double P999Ms, double MaxMs, string? Error);

/// <summary>The coordinator: starts the voters, drives the leader, prints the table. Owns and always stops its child processes.</summary>
public static class QuorumBench
{
    private const int Voters = 3;

    public static async Task<int> RunAsync(QuorumBenchSettings settings, Output output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(output);
        bool ownDirectory = settings.Directory is null;
        string root = settings.Directory ?? Path.Combine(Path.GetTempPath(), "kraft-qbench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        var nodes = new List<BenchNodeProcess>();
        try
        {
            double fsyncRate = settings.FsyncProbeSeconds > 0 ? FsyncProbe.Measure(root, TimeSpan.FromSeconds(settings.FsyncProbeSeconds)) : 0;
            var ports = settings.PortBase > 0 ? Enumerable.Range(settings.PortBase, Voters).ToArray() : FreePorts(Voters);
            string voters = string.Join(',', Enumerable.Range(1, Voters).Select(i => $"{i}@127.0.0.1:{ports[i - 1]}"));
            for (int i = 1; i <= Voters; i++)
            {
                string nodeDir = Path.Combine(root, $"node-{i}");
                nodes.Add(BenchNodeProcess.Start(i, ["bench", "quorum-node", "--node-id", i.ToString(CultureInfo.InvariantCulture), "--voters", voters,
                    "--dir", nodeDir, "--fetch-max-entries", settings.FetchMaxEntries.ToString(CultureInfo.InvariantCulture),
                    "--snapshot-every-entries", settings.SnapshotEveryEntries.ToString(CultureInfo.InvariantCulture)]));
            }
            var results = new List<QuorumBenchResult>();
            foreach (string run in settings.Runs)
            {
                var leader = await WaitForLeaderAsync(nodes, TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
                if (leader is null)
                {
                    output.Fail("no leader was elected within 60 s" + Environment.NewLine + string.Join(Environment.NewLine, nodes.Select(n => n.Describe())));
                    return ExitCodes.Failure;
                }
                string commandLine = run == "throughput"
                    ? string.Create(CultureInfo.InvariantCulture, $"throughput {settings.DurationSeconds} {settings.WarmupSeconds} {settings.RecordSizeBytes} {settings.BatchRecords} {settings.Concurrency}")
                    : string.Create(CultureInfo.InvariantCulture, $"rate {settings.DurationSeconds} {settings.WarmupSeconds} {settings.RecordSizeBytes} {settings.RatePerSecond}");
                var timeout = TimeSpan.FromSeconds(settings.DurationSeconds + settings.WarmupSeconds + 60);
                var result = await leader.RunAsync(commandLine, timeout, cancellationToken).ConfigureAwait(false);
                if (result is null)
                {
                    output.Fail($"the leader (node {leader.NodeId}) gave no result for '{commandLine}'" + Environment.NewLine + leader.Describe());
                    return ExitCodes.Failure;
                }
                results.Add(result);
            }
            Print(output, settings, results, fsyncRate);
            return results.Any(r => r.Error is not null) ? ExitCodes.Failure : ExitCodes.Ok;
        }
        finally
        {
            await Task.WhenAll(nodes.Select(n => n.StopAsync())).ConfigureAwait(false);
            foreach (var n in nodes) n.Dispose();
            if (ownDirectory)
            {
                try
                {
                    Directory.Delete(root, recursive: true);
                }
                catch (IOException)
                {
                    // A temp directory left behind is harmless.
                }
            }
        }
    }

    private static void Print(Output output, QuorumBenchSettings settings, List<QuorumBenchResult> results, double fsyncRate)
    {
        if (output.Json)
        {
            output.WriteJson(new { settings.RecordSizeBytes, voters = Voters, fsyncPerSecond4KiB = Math.Round(fsyncRate), results });
            return;
        }
        static string F(double v) => BenchCommand.Format(v);
        output.WriteTable(
            ["run", "records", "seconds", "records/s", "MB/s", "calls", "avg ms", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms", "error"],
            results.Select(r => (IReadOnlyList<string>)[
                r.Run, r.CommittedRecords.ToString(CultureInfo.InvariantCulture), F(r.Seconds), F(Math.Round(r.RecordsPerSecond)), F(r.MegabytesPerSecond),
                r.AppendCalls.ToString(CultureInfo.InvariantCulture), F(r.AvgMs), F(r.P50Ms), F(r.P95Ms), F(r.P99Ms), F(r.P999Ms), F(r.MaxMs), r.Error ?? ""]));
        if (fsyncRate > 0)
        {
            output.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"disk: {fsyncRate:0} fsyncs/s (4 KiB write + fsync, same directory, measured first)"));
        }
        string snapshots = settings.SnapshotEveryEntries > 0
            ? string.Create(CultureInfo.InvariantCulture, $"snapshots every {settings.SnapshotEveryEntries} entries")
            : "snapshots every 20 MiB of payloads";
        output.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"3 voters (separate processes, loopback TCP, fsync on), {settings.RecordSizeBytes} B records, one entry per record; latency = append call to commit, on the leader; {snapshots}; {settings.WarmupSeconds} s warm-up"));
    }

    private static async Task<BenchNodeProcess?> WaitForLeaderAsync(List<BenchNodeProcess> nodes, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            // The leader of the highest epoch any node reports; an older leader may not know it was deposed yet.
            var leader = nodes.Where(n => n.Role == RaftRole.Leader && !n.Exited).MaxBy(n => n.Epoch);
            if (leader is not null && nodes.All(n => n.Epoch <= leader.Epoch)) return leader;
            if (nodes.Count(n => n.Exited) >= 2) return null;
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
        return null;
    }

    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            foreach (var l in listeners) l.Start();
            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var l in listeners) l.Stop();
        }
    }
}

/// <summary>One child voter process as the coordinator sees it. Its stdout is read by one task that tracks role lines and results.</summary>
internal sealed class BenchNodeProcess : IDisposable
{
    private readonly Process _process;
    private readonly Task _reader;
    private readonly Task _errorReader;
    private readonly Lock _lock = new();
    private readonly Queue<string> _lastErrors = new();
    private TaskCompletionSource<string?>? _result;
    private volatile int _epoch;
    private volatile RaftRole _role = RaftRole.Unattached;

    private BenchNodeProcess(int nodeId, Process process)
    {
        NodeId = nodeId;
        _process = process;
        _reader = Task.Run(ReadOutputAsync);
        _errorReader = Task.Run(ReadErrorsAsync);
    }

    public int NodeId { get; }

    public int Epoch => _epoch;

    public RaftRole Role => _role;

    public bool Exited => _process.HasExited;

    public static BenchNodeProcess Start(int nodeId, IReadOnlyList<string> args)
    {
        var (file, prefix) = SelfInvocation();
        var start = new ProcessStartInfo(file, [.. prefix, .. args])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start a quorum-node process");
        return new BenchNodeProcess(nodeId, process);
    }

    /// <summary>How to run this same kraft again: the apphost, or `dotnet kraft.dll` when started through dotnet (tests).</summary>
    private static (string File, string[] Prefix) SelfInvocation()
    {
        string process = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find the kraft executable");
        if (Path.GetFileNameWithoutExtension(process) != "dotnet") return (process, []);
        string entry = System.Reflection.Assembly.GetEntryAssembly()?.Location ?? "";
        if (Path.GetFileNameWithoutExtension(entry) != "kraft") entry = Path.Combine(AppContext.BaseDirectory, "kraft.dll");
        return (process, [entry]);
    }

    /// <summary>Sends one workload line and waits for its result line; null on timeout or exit.</summary>
    public async Task<QuorumBenchResult?> RunAsync(string commandLine, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock) _result = completion;
        await _process.StandardInput.WriteLineAsync(commandLine.AsMemory(), cancellationToken).ConfigureAwait(false);
        await _process.StandardInput.FlushAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            string? json = await completion.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            return json is null ? null : JsonSerializer.Deserialize<QuorumBenchResult>(json);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    private async Task ReadOutputAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            var parts = line.Split(' ', 3);
            if (parts[0] == "role" && parts.Length == 3 && Enum.TryParse<RaftRole>(parts[1], out var role) && int.TryParse(parts[2], CultureInfo.InvariantCulture, out int epoch))
            {
                _epoch = epoch;
                _role = role;
            }
            else if (parts[0] == "result")
            {
                TaskCompletionSource<string?>? completion;
                lock (_lock) (completion, _result) = (_result, null);
                completion?.TrySetResult(line["result ".Length..]);
            }
        }
        lock (_lock) _result?.TrySetResult(null);
    }

    private async Task ReadErrorsAsync()
    {
        while (await _process.StandardError.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            lock (_lock)
            {
                _lastErrors.Enqueue(line);
                if (_lastErrors.Count > 20) _lastErrors.Dequeue();
            }
        }
    }

    public string Describe()
    {
        lock (_lock)
        {
            return $"node {NodeId}: {Role} epoch {Epoch}{(Exited ? $", exited with {_process.ExitCode}" : "")}" +
                (_lastErrors.Count > 0 ? Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", _lastErrors) : "");
        }
    }

    /// <summary>Asks the node to stop (it resigns and closes its disk), then kills it if it has not exited within 10 s.</summary>
    public async Task StopAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await _process.StandardInput.WriteLineAsync("stop").ConfigureAwait(false);
                _process.StandardInput.Close();
            }
        }
        catch (IOException)
        {
            // The process already went away.
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }
        await Task.WhenAll(_reader, _errorReader).ConfigureAwait(false);
    }

    public void Dispose() => _process.Dispose();
}

/// <summary>
/// The disk's own limit, measured where the voters write: 4 KiB written and fsynced, repeatedly, in one file
/// (what fio --rw=write --bs=4k --fsync=1 measures).
/// </summary>
public static class FsyncProbe
{
    public static double Measure(string directory, TimeSpan duration)
    {
        string path = Path.Combine(directory, "fsync-probe.tmp");
        var block = new byte[4096];
        Random.Shared.NextBytes(block);
        long count = 0;
        long start = Stopwatch.GetTimestamp();
        long end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            while (Stopwatch.GetTimestamp() < end)
            {
                file.Write(block);
                file.Flush(flushToDisk: true);
                count++;
            }
        }
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        File.Delete(path);
        return count / seconds;
    }
}

/// <summary>
/// One voter of the quorum benchmark: a Raft driver with a trivial state machine (it counts applied entries), its
/// disk under the given directory and the TCP transport on its own port. Reports role changes on stdout and runs
/// the workloads the coordinator asks for on its own driver (they only make sense on the leader).
/// </summary>
public static class QuorumBenchNode
{
    public static async Task<int> RunAsync(int nodeId, string votersText, string directory, int fetchMaxEntries, int snapshotEveryEntries, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var voters = new Dictionary<NodeId, (string Host, int Port)>();
        foreach (string item in votersText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int at = item.IndexOf('@', StringComparison.Ordinal);
            int colon = item.LastIndexOf(':');
            if (at <= 0 || colon <= at || !int.TryParse(item.AsSpan(0, at), CultureInfo.InvariantCulture, out int id)
                || !int.TryParse(item.AsSpan(colon + 1), CultureInfo.InvariantCulture, out int port))
            {
                stderr.WriteLine($"kraft: bad voter '{item}' (expected id@host:port)");
                return ExitCodes.UsageError;
            }
            voters[new NodeId(id)] = (item[(at + 1)..colon], port);
        }
        var self = new NodeId(nodeId);
        if (!voters.TryGetValue(self, out var own))
        {
            stderr.WriteLine($"kraft: node {nodeId} is not among the voters");
            return ExitCodes.UsageError;
        }
        // Stdout carries the protocol to the coordinator, so every log line goes to stderr.
        using var loggers = LoggerFactory.Create(b => b
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .SetMinimumLevel(Environment.GetEnvironmentVariable("KRAFT_LOG_LEVEL") is { } level && Enum.TryParse<LogLevel>(level, true, out var l) ? l : LogLevel.Warning));
        var logger = loggers.CreateLogger("Kraft.QuorumBench");
        await using var transport = new RaftTcpTransport(self, id => voters.TryGetValue(id, out var a) ? a : null, loggers.CreateLogger("Kraft.RaftTransport"));
        await using var listener = new RaftTcpListener(transport, loggers.CreateLogger("Kraft.RaftListener"));
        listener.Start(new IPEndPoint(IPAddress.Parse(own.Host), own.Port));
        var stateMachine = new CountingStateMachine(stdout);
        var options = new RaftDriverOptions(directory, new RaftOptions { NodeId = self, Voters = voters.Keys.ToList(), FetchMaxEntries = fetchMaxEntries }) { SnapshotEveryEntries = snapshotEveryEntries > 0 ? snapshotEveryEntries : int.MaxValue };
        var driver = Driver.Open(options, transport, stateMachine, TimeProvider.System, logger);
        transport.OnReceive = driver.Deliver;
        driver.Start();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                string? line = await Console.In.ReadLineAsync(cancellationToken).ConfigureAwait(false);
                if (line is null || line == "stop") break;
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                QuorumBenchResult result;
                try
                {
                    result = parts[0] switch
                    {
                        "throughput" => await QuorumWorkloads.ThroughputAsync(driver, D(parts[1]), D(parts[2]), I(parts[3]), I(parts[4]), I(parts[5]), cancellationToken).ConfigureAwait(false),
                        "rate" => await QuorumWorkloads.RateAsync(driver, D(parts[1]), D(parts[2]), I(parts[3]), I(parts[4]), cancellationToken).ConfigureAwait(false),
                        _ => Failed(parts[0], "unknown command"),
                    };
                }
                catch (Exception e) when (e is FormatException or IndexOutOfRangeException)
                {
                    result = Failed(parts.FirstOrDefault() ?? "", "malformed command: " + e.Message);
                }
                stdout.WriteLine("result " + JsonSerializer.Serialize(result));
                stdout.Flush();
            }
        }
        finally
        {
            await driver.ResignAsync().ConfigureAwait(false);
            await driver.DisposeAsync().ConfigureAwait(false);
        }
        return driver.Fault is null ? ExitCodes.Ok : ExitCodes.Failure;

        static double D(string s) => double.Parse(s, CultureInfo.InvariantCulture);
        static int I(string s) => int.Parse(s, CultureInfo.InvariantCulture);
        static QuorumBenchResult Failed(string run, string error) => new(run, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, error);
    }

    /// <summary>Counts applied entries; its snapshot is that count. Callbacks run on the driver thread.</summary>
    private sealed class CountingStateMachine(TextWriter stdout) : IRaftStateMachine
    {
        private long _applied;

        public void OnRoleChange(RoleInfo role)
        {
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"role {role.Role} {role.Epoch}"));
            stdout.Flush();
        }

        public void OnCommitted(IReadOnlyList<LogEntry> entries, long highWatermark) => _applied += entries.Count;

        public void OnSnapshotLoad(RaftSnapshot snapshot) => _applied = BitConverter.ToInt64(snapshot.Bytes);

        public byte[]? TakeSnapshot(long endOffset) => BitConverter.GetBytes(_applied);
    }
}

/// <summary>The two workloads, run on the leader's own driver.</summary>
public static class QuorumWorkloads
{
    /// <summary>
    /// Closed loop: <paramref name="concurrency"/> callers, each appending <paramref name="batchRecords"/> records per
    /// call and calling again once the previous call committed. Counts the records whose commit lands in the
    /// measured window (after the warm-up).
    /// </summary>
    public static async Task<QuorumBenchResult> ThroughputAsync(Driver driver, double seconds, double warmupSeconds, int recordSize, int batchRecords, int concurrency, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(driver);
        var payload = Payload(recordSize);
        // One list reused by every call: the core keeps the byte[] references, and the payload is never changed.
        var batch = Enumerable.Repeat(payload, batchRecords).ToArray();
        long start = Stopwatch.GetTimestamp();
        long measureFrom = start + (long)(warmupSeconds * Stopwatch.Frequency);
        long stopAt = measureFrom + (long)(seconds * Stopwatch.Frequency);
        var samples = new LatencySamples();
        long committed = 0, calls = 0, refused = 0;
        string? error = null;
        var sync = new Lock();
        async Task Caller()
        {
            while (Stopwatch.GetTimestamp() < stopAt && !cancellationToken.IsCancellationRequested)
            {
                long sent = Stopwatch.GetTimestamp();
                var outcome = await driver.ProposeBatchAsync(batch, cancellationToken).ConfigureAwait(false);
                long done = Stopwatch.GetTimestamp();
                lock (sync)
                {
                    if (outcome.Committed)
                    {
                        if (done >= measureFrom && done <= stopAt)
                        {
                            committed += batchRecords;
                            calls++;
                            samples.Add(Stopwatch.GetElapsedTime(sent, done).TotalMilliseconds, batchRecords);
                        }
                    }
                    else if (outcome.Error == ProposalErrors.Backpressure)
                    {
                        refused++;
                    }
                    else
                    {
                        error ??= outcome.Error;
                    }
                }
                if (outcome.Error == ProposalErrors.Backpressure) await Task.Delay(1, cancellationToken).ConfigureAwait(false);
                else if (!outcome.Committed) return;
            }
        }
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(Caller, cancellationToken))).ConfigureAwait(false);
        return Result("throughput", samples, committed, seconds, recordSize, calls, refused, error);
    }

    /// <summary>
    /// Open loop: one record per call at <paramref name="ratePerSecond"/>. Record i is due at start + i / rate; the
    /// sender sleeps about a millisecond at a time (no spinning: it would take one of the machine's cores from the
    /// voters) and then makes every call that is due, so the rate holds over the run whatever the commits do. A call
    /// never waits for earlier commits (the driver only queues it), so its latency, measured from the call to the
    /// commit, is append to commit. Records due in the measured window (after the warm-up) are counted.
    /// </summary>
    public static async Task<QuorumBenchResult> RateAsync(Driver driver, double seconds, double warmupSeconds, int recordSize, int ratePerSecond, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(driver);
        var payload = Payload(recordSize);
        long warmupCount = (long)(warmupSeconds * ratePerSecond);
        long total = warmupCount + (long)(seconds * ratePerSecond);
        var samples = new LatencySamples();
        long committed = 0, refused = 0;
        string? error = null;
        var sync = new Lock();
        var inFlight = new List<Task>();
        double ticksPerRecord = (double)Stopwatch.Frequency / ratePerSecond;
        long start = Stopwatch.GetTimestamp();
        void Send(long i)
        {
            bool measured = i >= warmupCount;
            long sent = Stopwatch.GetTimestamp();
            inFlight.Add(driver.ProposeAsync(payload, cancellationToken).ContinueWith(t =>
            {
                long done = Stopwatch.GetTimestamp();
                lock (sync)
                {
                    if (t.IsCompletedSuccessfully && t.Result.Committed)
                    {
                        if (measured)
                        {
                            committed++;
                            samples.Add(Stopwatch.GetElapsedTime(sent, done).TotalMilliseconds, 1);
                        }
                    }
                    else if (t.IsCompletedSuccessfully && t.Result.Error == ProposalErrors.Backpressure)
                    {
                        refused++;
                    }
                    else
                    {
                        error ??= t.IsCompletedSuccessfully ? t.Result.Error : t.Exception?.GetBaseException().Message ?? "cancelled";
                    }
                }
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default));
        }
        await Task.Run(() =>
        {
            long next = 0;
            while (next < total && !cancellationToken.IsCancellationRequested)
            {
                long now = Stopwatch.GetTimestamp();
                while (next < total && start + (long)(next * ticksPerRecord) <= now) Send(next++);
                if (next < total) Thread.Sleep(1);
            }
        }, cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(inFlight).ConfigureAwait(false);
        return Result("latency", samples, committed, seconds, recordSize, committed, refused, error);
    }

    private static byte[] Payload(int size)
    {
        var random = new Random(42);
        var payload = new byte[size];
        for (int i = 0; i < payload.Length; i++) payload[i] = (byte)('A' + random.Next(26));
        return payload;
    }

    private static QuorumBenchResult Result(string run, LatencySamples samples, long committed, double seconds, int recordSize, long calls, long refused, string? error)
    {
        var s = samples.Summarize();
        double rate = committed / seconds;
        return new QuorumBenchResult(run, committed, seconds, rate, rate * recordSize / (1 << 20), calls, refused,
            Math.Round(s.AvgMs, 3), Math.Round(s.P50Ms, 3), Math.Round(s.P95Ms, 3), Math.Round(s.P99Ms, 3), Math.Round(s.P999Ms, 3), Math.Round(s.MaxMs, 3), error);
    }
}
