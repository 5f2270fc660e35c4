using System.Diagnostics;
using System.Globalization;

namespace Kraft.Linearizability.Harness;

/// <summary>
/// Which node-to-node directions a partition cuts (Jepsen's "grudge"): a pure function of the kind, the node count,
/// the target node and a shuffle seed, so that the nemesis plan of a seed is reproducible and testable without root.
/// Role: planning only. Invariant: every pair names two different nodes in 1..nodes; nodes are never cut from clients.
/// Stateless.
/// </summary>
public static class Grudge
{
    /// <summary>The directed pairs (packets from <c>From</c> to <c>To</c> are dropped) for one partition.</summary>
    /// <param name="target">The node to isolate (isolate and one-way kinds); ignored by the others.</param>
    /// <param name="shuffle">Seeds the random order of nodes for the halves and bridge kinds.</param>
    public static IReadOnlyList<(int From, int To)> For(NemesisKind kind, int nodes, int target, int shuffle)
    {
        var order = Enumerable.Range(1, nodes).ToArray();
        new Random(shuffle).Shuffle(order);
        switch (kind)
        {
            case NemesisKind.IsolateLeader or NemesisKind.IsolateController:
                return Both(Others(target, nodes), [target]);
            case NemesisKind.PartitionOneWay:
                // The target still talks; nobody's packets reach it.
                return Others(target, nodes).Select(o => (o, target)).ToList();
            case NemesisKind.PartitionHalves:
            {
                // A minority of floor(n/2) nodes and the majority; with 1 node there is nothing to cut.
                var minority = order.Take(nodes / 2).ToList();
                return Both(minority, order.Skip(nodes / 2).ToList());
            }

            case NemesisKind.PartitionBridge:
            {
                // Two halves of floor((n-1)/2) and the rest, around one bridge node that is in both: 3 nodes give
                // A | B | C with A and C cut apart, 5 nodes give {A,B} | C | {D,E}.
                int half = (nodes - 1) / 2;
                var left = order.Take(half).ToList();
                var right = order.Skip(half + 1).ToList();
                return Both(left, right);
            }

            default:
                throw new ArgumentException($"{kind} is not a partition", nameof(kind));
        }
    }

    /// <summary>"1,2 x 3" style text for the history and the log.</summary>
    public static string Describe(IReadOnlyList<(int From, int To)> drops) =>
        drops.Count == 0 ? "nothing" : string.Join(' ', drops.Select(d => $"{d.From}->{d.To}"));

    private static List<int> Others(int node, int nodes) => Enumerable.Range(1, nodes).Where(n => n != node).ToList();

    private static List<(int From, int To)> Both(IReadOnlyList<int> a, IReadOnlyList<int> b) =>
        a.SelectMany(x => b.SelectMany(y => new[] { (x, y), (y, x) })).ToList();
}

/// <summary>
/// The harness's nftables rules: one table of its own (<c>inet kraft_jepsen</c>) with one input chain, in the network
/// namespace the harness runs in (never the host's: <see cref="NetworkNamespace"/> puts the run in a private one
/// first). A partition is a set of <c>ip saddr A ip daddr B drop</c> rules between node addresses (127.0.0.N, which
/// only the test's nodes use); healing flushes the chain, and <see cref="Dispose"/> deletes the table.
/// Thread-safe: calls are serialized by a lock (the nemesis and the final heal may race at the time limit).
/// </summary>
public sealed class NftFirewall : IDisposable
{
    public const string Table = "kraft_jepsen";

    private readonly object gate = new();
    private readonly Func<int, string> address;
    private bool installed;

    public NftFirewall(Func<int, string> address)
    {
        this.address = address;
    }

    /// <summary>Creates the table and its empty chain (accept everything), replacing a leftover one.</summary>
    public void Install()
    {
        lock (gate)
        {
            // "add" is idempotent; the flush empties a leftover chain from an earlier run in the same namespace.
            Nft($"add table inet {Table}\nadd chain inet {Table} input {{ type filter hook input priority 0; policy accept; }}\nflush chain inet {Table} input\n");
            installed = true;
        }
    }

    /// <summary>Replaces the current rules with drops for exactly these directed node pairs.</summary>
    public void Partition(IReadOnlyList<(int From, int To)> drops)
    {
        lock (gate)
        {
            var script = new System.Text.StringBuilder($"flush chain inet {Table} input\n");
            foreach (var (from, to) in drops)
            {
                script.Append(CultureInfo.InvariantCulture, $"add rule inet {Table} input ip saddr {address(from)} ip daddr {address(to)} drop\n");
            }

            Nft(script.ToString());
        }
    }

    /// <summary>Removes every drop rule (the table stays).</summary>
    public void Heal()
    {
        lock (gate)
        {
            if (installed)
            {
                Nft($"flush chain inet {Table} input\n");
            }
        }
    }

    /// <summary>The rules now in force, as nft prints them (for the log and tests).</summary>
    public string List()
    {
        lock (gate)
        {
            return Run("nft", ["list", "table", "inet", Table], null).Out;
        }
    }

    /// <summary>Deletes the table. Best effort: the namespace's deletion removes it anyway.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (!installed)
            {
                return;
            }

            installed = false;
            try
            {
                Nft($"delete table inet {Table}\n");
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }
    }

    private static void Nft(string script)
    {
        var (code, _, error) = Run("nft", ["-f", "-"], script);
        if (code != 0)
        {
            throw new InvalidOperationException($"nft failed ({code}): {error.Trim()}\n{script}");
        }
    }

    /// <summary>Runs a short command to completion (bounded at 30 s) and returns its exit code and output.</summary>
    internal static (int Code, string Out, string Err) Run(string file, IReadOnlyList<string> args, string? input)
    {
        var start = new ProcessStartInfo(file, args)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        if (input is not null)
        {
            process.StandardInput.Write(input);
        }

        process.StandardInput.Close();

        // Both pipes are drained concurrently so that a full stderr pipe cannot block the child.
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} did not finish in 30 s");
        }

#pragma warning disable VSTHRD002 // The process has exited: both reads are complete or about to be.
        return (process.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
#pragma warning restore VSTHRD002
    }
}
