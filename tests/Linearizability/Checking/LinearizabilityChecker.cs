using System.Diagnostics;
using System.Text;
using Kraft.Linearizability.Edn;
using Kraft.Linearizability.History;
using Kraft.Linearizability.Models;

namespace Kraft.Linearizability.Checking;

/// <summary>The checker's answer. <c>Unknown</c> means the time budget ran out; it is never a guess.</summary>
public enum Verdict
{
    Linearizable,
    NotLinearizable,
    Unknown,
}

/// <summary>
/// Why a partition is not linearizable: the longest legal prefix the search found, the state it leads to,
/// and the operations that cannot be placed next. Immutable.
/// </summary>
public sealed record Explanation(
    object? PartitionKey,
    IReadOnlyList<Operation> LongestPrefix,
    string StateAfterPrefix,
    Operation? MustPrecede,
    IReadOnlyList<Operation> Unplaceable)
{
    public override string ToString()
    {
        var sb = new StringBuilder();
        if (PartitionKey is not null)
        {
            sb.Append("key ").Append(EdnWriter.Write(PartitionKey)).Append(": ");
        }

        sb.Append("the longest linearizable prefix has ").Append(LongestPrefix.Count).Append(" ops");
        sb.Append(", leaving the state ").Append(StateAfterPrefix).Append('.');
        if (MustPrecede is not null)
        {
            sb.Append(" The next op must be one that was called before ").Append(MustPrecede).Append(" returned");
        }

        sb.Append("; none of these can be placed:");
        foreach (var op in Unplaceable)
        {
            sb.Append("\n    ").Append(op);
        }

        if (LongestPrefix.Count > 0)
        {
            sb.Append("\n  the prefix ends with:");
            foreach (var op in LongestPrefix.Skip(Math.Max(0, LongestPrefix.Count - 5)))
            {
                sb.Append("\n    ").Append(op);
            }
        }

        return sb.ToString();
    }
}

/// <summary>The result for one partition. Immutable.</summary>
public sealed record PartitionResult(object? Key, Verdict Verdict, int Operations, long Steps, int CacheSize, IReadOnlyList<Operation> Linearization, Explanation? Explanation);

/// <summary>The result of checking a whole history. Immutable.</summary>
public sealed record CheckResult(
    Verdict Verdict,
    IReadOnlyList<PartitionResult> Partitions,
    IReadOnlyList<Operation> Operations,
    TimeSpan Elapsed)
{
    /// <summary>The verdict as the console prints it: linearizable, not-linearizable or unknown.</summary>
    public string VerdictText => LinearizabilityChecker.VerdictText(Verdict);

    /// <summary>The explanations of the partitions that failed (empty unless not linearizable).</summary>
    public IEnumerable<Explanation> Explanations => Partitions.Where(p => p.Explanation is not null).Select(p => p.Explanation!);
}

/// <summary>
/// Entry point of the linearizability checker for the console and for the harness.
/// Role: pair events into operations, split them with the model, search each partition (in parallel),
/// and combine: any non-linearizable partition makes the history non-linearizable; otherwise any
/// timed-out partition makes it unknown. Stateless; thread-safe.
/// </summary>
public static class LinearizabilityChecker
{
    /// <summary>Every model by its console name.</summary>
    public static IReadOnlyDictionary<string, IModel> Models { get; } = new IModel[]
    {
        new EtcdRegisterModel(),
        new CasRegisterModel(),
        new KvModel(),
        new KraftMetadataModel(),
        new MultiRegisterModel(),
        new MutexModel(),
    }.ToDictionary(m => m.Name);

    public static string VerdictText(Verdict v) => v switch
    {
        Verdict.Linearizable => "linearizable",
        Verdict.NotLinearizable => "not-linearizable",
        _ => "unknown",
    };

    public static CheckResult Check(History.History history, IModel model, TimeSpan timeout, CancellationToken cancellation = default) =>
        Check(OperationPairing.Pair(history), model, timeout, cancellation);

    public static CheckResult Check(IReadOnlyList<Operation> operations, IModel model, TimeSpan timeout, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        var partitions = model.Partition(operations);
        var results = new PartitionResult[partitions.Count];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);

        void Run(int i)
        {
            var partition = partitions[i];
            var search = partition.Search(clock, timeout, stop.Token);
            var verdict = search.Outcome switch
            {
                SearchOutcome.Linearizable => Verdict.Linearizable,
                SearchOutcome.NotLinearizable => Verdict.NotLinearizable,
                _ => Verdict.Unknown,
            };
            if (verdict == Verdict.NotLinearizable)
            {
                // One bad partition decides the whole history; the others need not finish.
                stop.Cancel();
            }

            var order = search.Linearization.Select(j => partition.Operations[j]).ToList();
            results[i] = new PartitionResult(
                partition.Key,
                verdict,
                partition.Operations.Count,
                search.Steps,
                search.CacheSize,
                verdict == Verdict.Linearizable ? order : [],
                verdict == Verdict.NotLinearizable ? Explain(partition, search.Linearization) : null);
        }

        if (partitions.Count > 1 && operations.Count > 200)
        {
            // Largest partitions first, one at a time per worker, so that one big key does not end up
            // queued behind others on the same thread.
            var order = Enumerable.Range(0, partitions.Count).OrderByDescending(i => partitions[i].Operations.Count).ToList();
            Parallel.ForEach(System.Collections.Concurrent.Partitioner.Create(order, System.Collections.Concurrent.EnumerablePartitionerOptions.NoBuffering), Run);
        }
        else
        {
            for (var i = 0; i < partitions.Count; i++)
            {
                Run(i);
            }
        }

        var overall = results.Any(r => r.Verdict == Verdict.NotLinearizable) ? Verdict.NotLinearizable
            : results.Any(r => r.Verdict == Verdict.Unknown) ? Verdict.Unknown
            : Verdict.Linearizable;
        return new CheckResult(overall, results, operations, clock.Elapsed);
    }

    /// <summary>
    /// Builds the explanation from the longest prefix: after it, the unplaced definite op that returns
    /// first must be linearized before that return, so only ops called before then can come next, and
    /// the search showed none of them leads anywhere.
    /// </summary>
    private static Explanation Explain(Partition partition, IReadOnlyList<int> prefix)
    {
        var ops = partition.Operations;
        var placed = new HashSet<int>(prefix);
        var pending = Enumerable.Range(0, ops.Count).Where(i => !placed.Contains(i)).ToList();
        var firstReturn = pending.Where(i => ops[i].Status != OpStatus.Unknown).OrderBy(i => ops[i].Return).Cast<int?>().FirstOrDefault();
        var bound = firstReturn is int f ? ops[f].Return : int.MaxValue;
        var candidates = pending.Where(i => ops[i].Call < bound).ToList();

        // Show the candidates that are illegal right away first; the rest fail deeper in the search.
        var ordered = candidates.OrderBy(i => partition.IsLegalAfter(prefix, i) ? 1 : 0).ThenBy(i => ops[i].Call).Select(i => ops[i]).ToList();
        return new Explanation(
            partition.Key,
            prefix.Select(i => ops[i]).ToList(),
            partition.DescribeStateAfter(prefix),
            firstReturn is int r ? ops[r] : null,
            ordered);
    }
}
