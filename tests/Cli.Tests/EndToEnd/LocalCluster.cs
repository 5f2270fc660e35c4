using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Kraft.Cli.Tests.EndToEnd;

/// <summary>
/// A real local cluster started the way a user starts one: `kraft cluster up --detach` in a fresh directory on
/// free loopback ports, driven with real command lines (`dotnet kraft.dll ...`) and real clients (kcat).
/// Dispose runs `kraft cluster down` and kills anything left, so no test leaves a process behind.
/// </summary>
public sealed class LocalCluster : IAsyncDisposable
{
    /// <summary>Tests that start clusters share this collection so that they run one at a time (2-core machines).</summary>
    public const string Collection = "local-cluster";

    /// <param name="nodes">Combined (controller+broker) nodes, ids 1..nodes.</param>
    /// <param name="brokers">Broker-only nodes (Raft observers) after them, ids nodes+1..nodes+brokers.</param>
    /// <param name="extraProperties">key=value lines added to every node's config (`cluster up --set`).</param>
    public LocalCluster(int nodes = 3, int brokers = 0, params string[] extraProperties)
    {
        Nodes = nodes + brokers;
        BrokerOnly = brokers;
        ExtraProperties = extraProperties;
        Directory = Path.Combine(Path.GetTempPath(), "kraft-e2e-" + Guid.NewGuid().ToString("N")[..8]);
        BasePort = FreeBasePort();
    }

    /// <summary>Every node (combined and broker-only).</summary>
    public int Nodes { get; }

    /// <summary>How many of the <see cref="Nodes"/> are broker-only (the last ones).</summary>
    public int BrokerOnly { get; }

    /// <summary>key=value lines added to every node's generated config (`cluster up --set`).</summary>
    public IReadOnlyList<string> ExtraProperties { get; }
    public string Directory { get; }
    public int BasePort { get; }
    public string Bootstrap => string.Join(',', Enumerable.Range(1, Nodes).Select(n => $"127.0.0.1:{BasePort + n - 1}"));

    /// <summary>A base port whose 3 x 100-spaced port groups are free right now.</summary>
    private static int FreeBasePort()
    {
        var random = new Random();
        for (int attempt = 0; attempt < 100; attempt++)
        {
            // Below Linux's ephemeral range (32768-60999 by default): ports there are handed out to other tests'
            // outgoing connections and port-0 listeners, and one was taken between this check and the node's bind.
            int candidate = random.Next(20000, 32400);
            var ports = Enumerable.Range(0, 9).Select(i => candidate + (i / 3) * 100 + i % 3);
            if (ports.All(IsFree)) return candidate;
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

    public static string KraftDll => Path.Combine(AppContext.BaseDirectory, "kraft.dll");

    /// <summary>Runs `kraft ARGS` with this cluster as the default bootstrap.</summary>
    public async Task<(int Code, string Out, string Err)> Kraft(params string[] args) => await Run("dotnet", [KraftDll, .. args], "", TimeSpan.FromSeconds(120));

    public static async Task<(int Code, string Out, string Err)> Run(string file, string[] args, string input, TimeSpan timeout, IDictionary<string, string>? env = null)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (env is not null) foreach (var (k, v) in env) start.Environment[k] = v;
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeout}: {await stderr}");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    public async Task StartAsync()
    {
        string[] args = ["cluster", "up", "--detach", "--nodes", (Nodes - BrokerOnly).ToString(CultureInfo.InvariantCulture),
            "--brokers", BrokerOnly.ToString(CultureInfo.InvariantCulture), "--dir", Directory, "--base-port", BasePort.ToString(CultureInfo.InvariantCulture), "--timeout", "90",
            .. ExtraProperties.SelectMany(p => new[] { "--set", p })];
        var (code, output, error) = await Kraft(args);
        if (code != 0)
        {
            throw new InvalidOperationException($"cluster up failed ({code}): {output} {error}\n{Logs()}");
        }
    }

    public int Pid(int node) => int.Parse(File.ReadAllText(Path.Combine(Directory, $"node-{node}", "kraft.pid")).Trim(), CultureInfo.InvariantCulture);

    public void Kill(int node)
    {
        using var process = Process.GetProcessById(Pid(node));
        process.Kill();
        process.WaitForExit();
    }

    /// <summary>Starts one node again with its generated config (its data is kept).</summary>
    public void Restart(int node)
    {
        string nodeDir = Path.Combine(Directory, $"node-{node}");
        string log = Path.Combine(nodeDir, "server.log");
        var start = new ProcessStartInfo("/bin/sh", ["-c", $"exec dotnet \"{KraftDll}\" server --config \"{Path.Combine(nodeDir, "server.properties")}\" >>\"{log}\" 2>&1"]) { UseShellExecute = false };
        using var process = Process.Start(start)!;
        File.WriteAllText(Path.Combine(nodeDir, "kraft.pid"), process.Id.ToString(CultureInfo.InvariantCulture));
    }

    public async Task<JsonElement> DescribeAsync(string topic)
    {
        // Brokers learn a new topic from the metadata log a moment after the controller committed it (as in Kafka), so
        // a describe through another broker right after a create may not find it yet: retry that case for a while.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            var (code, output, error) = await Kraft("topics", "describe", topic, "-o", "json", "-b", Bootstrap);
            if (code == 0) return JsonDocument.Parse(output).RootElement;
            if (!error.Contains("unknown topic", StringComparison.Ordinal) || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"describe failed: {error}");
            await Task.Delay(200);
        }
    }

    public string Logs() => string.Join('\n', Enumerable.Range(1, Nodes).Select(n =>
    {
        string path = Path.Combine(Directory, $"node-{n}", "server.log");
        return File.Exists(path) ? $"--- node {n}\n" + string.Join('\n', File.ReadAllLines(path).TakeLast(15)) : "";
    }));

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Kraft("cluster", "down", "--dir", Directory);
        }
        finally
        {
            foreach (int node in Enumerable.Range(1, Nodes))
            {
                try
                {
                    using var process = Process.GetProcessById(Pid(node));
                    process.Kill(entireProcessTree: true);
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or FormatException)
                {
                }
            }
            try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
        }
    }
}
